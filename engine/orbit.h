// The public umbrella header of the orbit engine.
#pragma once
#include "engine/autodiff.h"
#include "engine/builtin_ops.h"
#include "engine/device.h"
#include "engine/graph.h"
#include "engine/op_registry.h"
#include "engine/ops.h"
#include "engine/param_store.h"
#include "engine/program.h"
#include "engine/tensor.h"
#include "engine/version.h"
