// The subcommands of the `orbit` program (one file each).
#pragma once
#include <vector>

#include "tools/args.h"

namespace orbit::cli {
Command info_command();
Command demo_command();
Command inspect_command();
Command pinn_train_command();
Command pinn_study_command();
Command prox_command();
Command energy_command();
Command mcmc_command();
Command idem_train_command();
Command idem_sample_command();
Command idem_eval_command();
Command idem_nll_command();
Command metrics_command();
Command egnn_train_command();
Command egnn_eval_command();
Command data_nbody_command();
Command data_solar_command();
Command sharing_train_command();
const std::vector<Command>& commands();
}  // namespace orbit::cli
