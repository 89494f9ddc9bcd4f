// The subcommands of the `orbit` program; each returns the process exit code.
#pragma once
#include <string>
#include <vector>

namespace orbit::cli {
int cmd_info(const std::vector<std::string>& args);
int cmd_demo(const std::vector<std::string>& args);
}  // namespace orbit::cli
