// Pieces shared by the `orbit idem` commands (tools/cli_idem.cpp: train, sample, eval;
// tools/cli_idem_nll.cpp: nll): the reference set, the metrics JSON and small file helpers.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/diffusion/idem.h"
#include "tools/args.h"

namespace orbit::cli::idem_cli {

// Writes `text` to `path` atomically (temp file + rename).
void write_text(const std::filesystem::path& path, const std::string& text);

// The reference set for the metrics: --reference, else the shipped 1000-row DW4/LJ13 test-split
// fixtures when run from the repository (LJ55: orbit's MCMC rows), else (GMM) exact samples of the
// mixture; `source` names it. An undefined tensor when there is none.
Tensor reference_for(const diffusion::IdemConfig& c, const Args& a, std::string& source);

// Metrics of `samples` (original units) against the reference as JSON ("null" without a reference);
// non-finite samples are counted and left out; plots with `plot_prefix` (none when empty).
std::string evaluate(const diffusion::IdemConfig& c, const Tensor& samples, const Tensor& reference,
                     const std::string& source, int64_t n, const std::string& plot_prefix,
                     std::vector<std::string>* plots = nullptr);

// The first n rows (all when fewer) of configurations x ([rows, D], or one [D]), as f64.
Tensor first_rows(const Tensor& x, int64_t n, int64_t D);

}  // namespace orbit::cli::idem_cli
