// The command-line layer shared by every `orbit` subcommand: declared options with help text and
// defaults, `--help`, `--config FILE.json` (an object of option values) with command-line overrides,
// and strict parsing (unknown options, missing or malformed values are errors naming the option).
#pragma once
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace orbit::cli {

struct OptionSpec {
  std::string name;           // without the leading --
  std::string help;
  std::string default_value;  // shown in --help; "" means no default (optional or required)
  bool flag = false;          // takes no value
  bool required = false;
};

class Args {
 public:
  bool has(const std::string& k) const { return values_.count(k) != 0; }
  std::string str(const std::string& k) const;  // the value or the declared default
  long long integer(const std::string& k, long long lo, long long hi) const;
  double real(const std::string& k) const;
  double positive(const std::string& k) const;  // > 0 and finite
  bool flag(const std::string& k) const { return has(k); }

 private:
  friend class Command;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> defaults_;
};

// Before a command's long work: the folders of the given file options (and of the given file-prefix
// options, e.g. --plots PREFIX) that were passed exist and are writable, so an hour of computing never
// ends in "cannot create" (engine/io/file_io.h, prepare_output).
void prepare_outputs(const Args& a, std::initializer_list<const char*> files,
                     std::initializer_list<const char*> prefixes = {});

class Command {
 public:
  Command(std::string name, std::string summary, std::vector<OptionSpec> options,
          std::function<int(const Args&)> run, bool common = true);
  // Parses `words` (after the subcommand) and runs; `--help` prints usage and returns 0.
  int main(const std::vector<std::string>& words) const;
  std::string usage() const;
  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }

 private:
  Args parse(const std::vector<std::string>& words) const;
  const OptionSpec* find(const std::string& name) const;
  std::string name_, summary_;
  std::vector<OptionSpec> options_;
  std::function<int(const Args&)> run_;
};

// Options most commands share: --device, --seed, --quiet, --config.
std::vector<OptionSpec> common_options();

}  // namespace orbit::cli
