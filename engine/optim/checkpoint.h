// Training checkpoints in the safetensors format: parameters ("param/<name>"), optimizer state
// ("optim/..."), EMA weights ("ema/<name>"), other state arrays ("extra/<name>"), and as metadata the step, the RNG run counter, the
// optimizer and schedule state and the run's configuration. Written atomically (temp file + rename),
// so a run killed at any moment leaves the previous checkpoint intact.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/optim/optimizer.h"

namespace orbit::optim {

struct CheckpointState {
  ParamStore* params = nullptr;   // required
  Optimizer* optimizer = nullptr; // optional
  EMA* ema = nullptr;             // optional
  uint64_t run_index = 0;         // the Program's random-stream counter
  std::map<std::string, std::string> meta;  // free-form (e.g. "config" -> JSON text)
  // Free-form arrays of the run's state ("extra/<name>": a replay buffer, ...), in the same file as
  // the weights so that both are written by one atomic rename. Loading fills it with the file's.
  std::map<std::string, Tensor> extra;
};

void save_checkpoint(const std::string& path, const CheckpointState& state);

// Restores into the given objects. Parameters already in the store must match the file's shapes and
// dtypes (a config mismatch is an error naming the parameter); missing ones are an error too.
void load_checkpoint(const std::string& path, CheckpointState& state);

}  // namespace orbit::optim
