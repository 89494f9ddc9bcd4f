// The plotting library in one include: figures of axes with lines, scatter, histograms and 2D
// density maps, written as SVG or PNG with no third-party code. See figure.h for an example.
#pragma once
#include "engine/plot/axes.h"
#include "engine/plot/figure.h"
#include "engine/plot/histogram.h"
#include "engine/plot/ticks.h"
