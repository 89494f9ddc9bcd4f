// Harness cases of the fused MLP op (engine/mlp_fused.h): small networks with every activation (and
// identity layers), widths of one, the same weight used by two layers, against a naive f64 reference;
// gradchecks go through the op's VJP (the network expanded into matmul, add and activations), to second
// order, and with a GPU the agreement checks cover the CUDA kernel.
#include <cmath>

#include "engine/mlp_fused.h"
#include "tests/harness/op_harness.h"

namespace orbit::testing {

namespace {

double act_ref(MlpAct a, double x) {
  switch (a) {
    case MlpAct::identity: return x;
    case MlpAct::relu: return x > 0 ? x : 0;
    case MlpAct::tanh: return std::tanh(x);
    case MlpAct::silu: return x / (1 + std::exp(-x));
    case MlpAct::sigmoid: return 1 / (1 + std::exp(-x));
    case MlpAct::gelu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case MlpAct::softplus: return std::log1p(std::exp(x));
  }
  return x;
}

// in[0] = x [n, w0]; in[1 + 2l] = W_l, in[2 + 2l] = b_l (or the inputs named by `wi` / `bi`).
Nd mlp_ref(const std::vector<Nd>& in, const std::vector<int64_t>& widths, const std::vector<MlpAct>& acts,
           const std::vector<int>& wi, const std::vector<int>& bi) {
  const int64_t n = in[0].shape[0];
  Nd out({n, widths.back()});
  for (int64_t r = 0; r < n; ++r) {
    std::vector<double> h(in[0].v.begin() + r * widths[0], in[0].v.begin() + (r + 1) * widths[0]);
    for (size_t l = 0; l < acts.size(); ++l) {
      const Nd& W = in[wi[l]];
      const Nd& B = in[bi[l]];
      std::vector<double> o(static_cast<size_t>(widths[l + 1]));
      for (int64_t j = 0; j < widths[l + 1]; ++j) {
        double s = 0;
        for (int64_t k = 0; k < widths[l]; ++k) s += h[k] * W.v[k * widths[l + 1] + j];
        o[j] = act_ref(acts[l], s + B.v[j]);
      }
      h = o;
    }
    for (int64_t j = 0; j < widths.back(); ++j) out.v[r * widths.back() + j] = h[j];
  }
  return out;
}

InputSpec spec(std::vector<int64_t> shape, double lo = -1.2, double hi = 1.2) {
  return InputSpec::uniform(std::move(shape), lo, hi);
}

void add_case(std::vector<OpCase>& cs, const std::string& label, int64_t n, const std::vector<int64_t>& widths,
              const std::vector<MlpAct>& acts) {
  OpCase c;
  c.op = "mlp_fused";
  c.label = label;
  c.inputs.push_back(spec({n, widths[0]}));
  std::vector<int> wi, bi;
  for (size_t l = 0; l < acts.size(); ++l) {
    wi.push_back(static_cast<int>(c.inputs.size()));
    c.inputs.push_back(spec({widths[l], widths[l + 1]}));
    bi.push_back(static_cast<int>(c.inputs.size()));
    c.inputs.push_back(spec({widths[l + 1]}, -0.5, 0.5));
  }
  c.build = [acts](Graph&, const std::vector<Var>& in) {
    std::vector<Var> w, b;
    for (size_t l = 0; l < acts.size(); ++l) {
      w.push_back(in[1 + 2 * l]);
      b.push_back(in[2 + 2 * l]);
    }
    return mlp_fused(in[0], w, b, acts);
  };
  c.ref = [widths, acts, wi, bi](const std::vector<Nd>& in) { return mlp_ref(in, widths, acts, wi, bi); };
  cs.push_back(c);
}

}  // namespace

void add_mlp_fused_cases(std::vector<OpCase>& cs) {
  add_case(cs, "mlp_fused tanh -> identity", 5, {3, 4, 2}, {MlpAct::tanh, MlpAct::identity});
  add_case(cs, "mlp_fused silu -> sigmoid -> gelu -> softplus", 4, {2, 3, 3, 2, 3},
           {MlpAct::silu, MlpAct::sigmoid, MlpAct::gelu, MlpAct::softplus});
  add_case(cs, "mlp_fused relu -> tanh, widths of one, one row", 1, {1, 3, 1}, {MlpAct::relu, MlpAct::tanh});
  {  // one weight and one bias feeding two layers (repeated inputs: the VJP sums both paths)
    OpCase c;
    c.op = "mlp_fused";
    c.label = "mlp_fused shared W and b in two layers";
    c.inputs = {spec({3, 3}), spec({3, 3}), spec({3}, -0.5, 0.5)};
    const std::vector<MlpAct> acts = {MlpAct::tanh, MlpAct::silu};
    c.build = [acts](Graph&, const std::vector<Var>& in) { return mlp_fused(in[0], {in[1], in[1]}, {in[2], in[2]}, acts); };
    c.ref = [acts](const std::vector<Nd>& in) { return mlp_ref(in, {3, 3, 3}, acts, {1, 1}, {2, 2}); };
    cs.push_back(c);
  }
}

}  // namespace orbit::testing
