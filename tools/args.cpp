#include "tools/args.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/io/file_io.h"
#include "engine/io/json.h"
#include "engine/util/parse.h"

namespace orbit::cli {

std::vector<OptionSpec> common_options() {
  return {{"device", "auto, cpu, cuda or cuda:N", "auto"},
          {"seed", "random seed", "1"},
          {"quiet", "no progress bar", "", true},
          {"config", "JSON file of option values (command-line options override it)", ""}};
}

std::string Args::str(const std::string& k) const {
  auto it = values_.find(k);
  if (it != values_.end()) return it->second;
  auto d = defaults_.find(k);
  return d != defaults_.end() ? d->second : "";
}

long long Args::integer(const std::string& k, long long lo, long long hi) const {
  std::string v = str(k);
  int64_t x = 0;
  ORBIT_CHECK(util::parse_int64(v, x), "--", k, " expects an integer, got '", v, "'");
  ORBIT_CHECK(x >= lo && x <= hi, "--", k, " must be in [", lo, ", ", hi, "], got ", x);
  return x;
}

double Args::real(const std::string& k) const {
  std::string v = str(k);
  double x = 0;
  ORBIT_CHECK(util::parse_double(v, x) && std::isfinite(x), "--", k, " expects a finite number, got '", v, "'");
  return x;
}

double Args::positive(const std::string& k) const {
  double x = real(k);
  ORBIT_CHECK(x > 0, "--", k, " must be positive, got ", x);
  return x;
}

Command::Command(std::string name, std::string summary, std::vector<OptionSpec> options,
                 std::function<int(const Args&)> run, bool common)
    : name_(std::move(name)), summary_(std::move(summary)), options_(std::move(options)), run_(std::move(run)) {
  if (common)
    for (auto& o : common_options()) options_.push_back(o);
}

const OptionSpec* Command::find(const std::string& n) const {
  for (auto& o : options_)
    if (o.name == n) return &o;
  return nullptr;
}

std::string Command::usage() const {
  std::ostringstream os;
  os << "usage: orbit " << name_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (auto& o : options_) {
    std::string left = "  --" + o.name + (o.flag ? "" : " X");
    os << left << std::string(left.size() < 24 ? 24 - left.size() : 1, ' ') << o.help;
    if (o.required) os << " (required)";
    else if (!o.default_value.empty()) os << " (default " << o.default_value << ")";
    os << "\n";
  }
  os << "  --help                this text\n";
  return os.str();
}

Args Command::parse(const std::vector<std::string>& words) const {
  Args a;
  for (auto& o : options_)
    if (!o.default_value.empty()) a.defaults_[o.name] = o.default_value;
  std::map<std::string, std::string> given;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    ORBIT_CHECK(w.rfind("--", 0) == 0 && w.size() > 2, "unexpected argument '", w, "' (options start with --)");
    std::string key = w.substr(2), value;
    auto eq = key.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    const OptionSpec* o = find(key);
    ORBIT_CHECK(o != nullptr, "unknown option --", key, " (see 'orbit ", name_, " --help')");
    ORBIT_CHECK(!given.count(key), "option --", key, " given twice");
    if (o->flag) {
      ORBIT_CHECK(!inline_value, "flag --", key, " takes no value");
      value = "1";
    } else if (!inline_value) {
      ORBIT_CHECK(i + 1 < words.size() && words[i + 1].rfind("--", 0) != 0, "option --", key, " needs a value");
      value = words[++i];
    }
    given[key] = value;
  }
  if (given.count("config")) {
    const std::string path = given["config"];
    std::ifstream f(path, std::ios::binary);
    ORBIT_CHECK(f.good(), "cannot open config file '", path, "'");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    ORBIT_CHECK(text.size() < (1u << 20), "config file '", path, "' is larger than 1 MiB");
    io::Json j = io::parse_json(text, "config file '" + path + "'");
    ORBIT_CHECK(j.kind == io::Json::Kind::object, "config file '", path, "' must hold a JSON object");
    for (auto& [k, v] : j.members) {
      const OptionSpec* o = find(k);
      ORBIT_CHECK(o != nullptr && k != "config", "config file '", path, "': unknown option '", k, "'");
      std::string s;
      switch (v.kind) {
        case io::Json::Kind::string: case io::Json::Kind::number: s = v.text; break;
        case io::Json::Kind::boolean:
          ORBIT_CHECK(o->flag, "config file '", path, "': '", k, "' takes a value, not true/false");
          if (!v.boolean) continue;
          s = "1";
          break;
        default: throw Error("config file '" + path + "': '" + k + "' must be a string, number or boolean");
      }
      a.values_[k] = s;
    }
  }
  for (auto& [k, v] : given) a.values_[k] = v;  // the command line wins
  for (auto& o : options_)
    ORBIT_CHECK(!o.required || a.has(o.name), "missing required option --", o.name, " (see 'orbit ", name_, " --help')");
  return a;
}

int Command::main(const std::vector<std::string>& words) const {
  for (auto& w : words)
    if (w == "--help" || w == "-h") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
  return run_(parse(words));
}

void prepare_outputs(const Args& a, std::initializer_list<const char*> files, std::initializer_list<const char*> prefixes) {
  for (const char* k : files)
    if (a.has(k)) io::prepare_output(a.str(k), (std::string("--") + k).c_str());
  for (const char* k : prefixes)
    if (a.has(k) && !a.str(k).empty()) io::prepare_output(a.str(k) + "_", (std::string("--") + k).c_str());
}

}  // namespace orbit::cli
