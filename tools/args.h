// A small, strict command-line parser: `--key value` and `--flag`; unknown or malformed options
// are errors that name the option.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/error.h"

namespace orbit::cli {

class Args {
 public:
  // `flags` take no value; `options` take one. argv[0..] are the words after the subcommand.
  Args(const std::vector<std::string>& words, const std::set<std::string>& options, const std::set<std::string>& flags) {
    for (size_t i = 0; i < words.size(); ++i) {
      const std::string& w = words[i];
      ORBIT_CHECK(w.rfind("--", 0) == 0, "unexpected argument '", w, "'");
      std::string key = w.substr(2), value;
      auto eq = key.find('=');
      if (eq != std::string::npos) {
        value = key.substr(eq + 1);
        key = key.substr(0, eq);
      }
      if (flags.count(key)) {
        ORBIT_CHECK(eq == std::string::npos, "flag --", key, " takes no value");
        values_[key] = "1";
      } else if (options.count(key)) {
        if (eq == std::string::npos) {
          ORBIT_CHECK(i + 1 < words.size(), "option --", key, " needs a value");
          value = words[++i];
        }
        values_[key] = value;
      } else {
        std::string known;
        for (auto& o : options) known += " --" + o;
        for (auto& f : flags) known += " --" + f;
        throw Error("unknown option --" + key + " (known:" + (known.empty() ? " none" : known) + ")");
      }
    }
  }
  bool has(const std::string& k) const { return values_.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def) const { return has(k) ? values_.at(k) : def; }
  long long integer(const std::string& k, long long def, long long lo, long long hi) const {
    if (!has(k)) return def;
    const std::string& v = values_.at(k);
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORBIT_CHECK(used == v.size() && !v.empty(), "--", k, " expects an integer, got '", v, "'");
    ORBIT_CHECK(x >= lo && x <= hi, "--", k, " must be in [", lo, ", ", hi, "], got ", x);
    return x;
  }
  double real(const std::string& k, double def) const {
    if (!has(k)) return def;
    const std::string& v = values_.at(k);
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORBIT_CHECK(used == v.size() && !v.empty() && x == x, "--", k, " expects a number, got '", v, "'");
    return x;
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace orbit::cli
