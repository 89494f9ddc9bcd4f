// Named parameter tensors shared by several Programs (a train step and a sampler see the same
// weights). Programs read parameters from the store at every run.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit {

class ParamStore {
 public:
  void set(const std::string& name, Tensor value) { params_[name] = std::move(value); }
  bool has(const std::string& name) const { return params_.count(name) != 0; }
  const Tensor& get(const std::string& name) const {
    auto it = params_.find(name);
    ORBIT_CHECK(it != params_.end(), "parameter '", name, "' is not in the ParamStore");
    return it->second;
  }
  Tensor& get_mut(const std::string& name) {
    auto it = params_.find(name);
    ORBIT_CHECK(it != params_.end(), "parameter '", name, "' is not in the ParamStore");
    return it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (auto& [k, v] : params_) n.push_back(k);
    return n;
  }
  size_t size() const { return params_.size(); }

 private:
  std::map<std::string, Tensor> params_;
};

}  // namespace orbit
