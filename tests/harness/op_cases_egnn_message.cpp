// Harness cases of the fused EGNN message-passing ops (engine/egnn_message.h). egnn_message against a
// naive f64 per-edge loop; egnn_message_vjp against the gradients of the op's expansion into primitive
// ops (the unfused EGNN formulas, differentiated by the engine). Gradchecks of both go to second order
// (egnn_message's VJP is egnn_message_vjp, whose VJP is its expansion); with a GPU the agreement checks
// cover the CUDA kernels, which have not been run on a GPU yet.
#include <cmath>

#include "engine/autodiff.h"
#include "engine/egnn_message.h"
#include "tests/harness/op_harness.h"

namespace orbit::testing {

namespace {

struct MsgCase {
  int64_t B, n, d, H;
  EgnnMessageAttr a;
};

InputSpec spec(std::vector<int64_t> shape, double lo = -1.0, double hi = 1.0) {
  return InputSpec::uniform(std::move(shape), lo, hi);
}

std::vector<InputSpec> input_specs(const MsgCase& m) {
  const int64_t B = m.B, n = m.n, d = m.d, H = m.H;
  std::vector<InputSpec> s{spec({B, n, H}), spec({B, n, H}), spec({B, n, d}), spec({H}, -0.5, 0.5), spec({H, H}),
                           spec({H}, -0.5, 0.5), spec({H, H}), spec({H}, -0.5, 0.5), spec({H})};
  if (m.a.edge_attr > 0) {
    s.push_back(spec({B, n, n, m.a.edge_attr}, 0.0, 1.5));
    s.push_back(spec({m.a.edge_attr, H}, -0.5, 0.5));
  }
  if (m.a.attention) {
    s.push_back(spec({H}));
    s.push_back(spec({1}, -0.5, 0.5));
  }
  return s;
}

double silu(double z) { return z / (1 + std::exp(-z)); }
double sigm(double z) { return 1 / (1 + std::exp(-z)); }

Nd forward_ref(const MsgCase& m, const std::vector<Nd>& in) {
  using namespace egnn_msg;
  const int64_t B = m.B, n = m.n, d = m.d, H = m.H, E = m.a.edge_attr;
  const auto& a = m.a;
  Nd out({B, n, H + d});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (i == j && !a.self_loops) continue;
        std::vector<double> D(d);
        double r = 0;
        for (int64_t k = 0; k < d; ++k) {
          D[k] = in[X].v[(b * n + i) * d + k] - in[X].v[(b * n + j) * d + k];
          r += D[k] * D[k];
        }
        if (a.norm_diff)
          for (auto& v : D) v /= std::sqrt(r + 1e-8) + 1;
        std::vector<double> u1(H), mm(H), u3(H);
        for (int64_t h = 0; h < H; ++h) {
          double pre = in[P].v[(b * n + i) * H + h] + in[Q].v[(b * n + j) * H + h] + r * in[WR].v[h];
          for (int64_t e = 0; e < E; ++e)
            pre += in[a_index(a)].v[((b * n + i) * n + j) * E + e] * in[wa_index(a)].v[e * H + h];
          u1[h] = silu(pre);
        }
        for (int64_t h = 0; h < H; ++h) {
          double z = in[B2].v[h];
          for (int64_t k = 0; k < H; ++k) z += u1[k] * in[W2].v[k * H + h];
          mm[h] = silu(z);
        }
        if (a.attention) {
          double g = in[batt_index(a)].v[0];
          for (int64_t h = 0; h < H; ++h) g += mm[h] * in[watt_index(a)].v[h];
          for (auto& v : mm) v *= sigm(g);
        }
        double w = 0;
        for (int64_t h = 0; h < H; ++h) {
          double z = in[B3].v[h];
          for (int64_t k = 0; k < H; ++k) z += mm[k] * in[W3].v[k * H + h];
          w += silu(z) * in[W4].v[h];
        }
        if (a.tanh) w = a.coords_range * std::tanh(w);
        for (int64_t h = 0; h < H; ++h) out.v[(b * n + i) * (H + d) + h] += mm[h];
        for (int64_t k = 0; k < d; ++k) {
          double t = D[k] * w;
          if (a.coord_clamp > 0) t = std::min(std::max(t, -a.coord_clamp), a.coord_clamp);
          out.v[(b * n + i) * (H + d) + H + k] += t;
        }
      }
  return out;
}

// The gradients of sum(expand(in) * G) by the engine's generic ops, flattened in input order.
Nd vjp_ref(const MsgCase& m, const std::vector<Nd>& in) {
  Graph g;
  std::vector<Var> vs;
  Feeds feeds;
  for (size_t k = 0; k < in.size(); ++k) {
    Tensor t = Tensor::from<double>(Shape(in[k].shape), in[k].v);
    vs.push_back(g.input("in" + std::to_string(k), t.shape(), DType::f64));
    feeds.push_back({"in" + std::to_string(k), t});
  }
  std::vector<Var> fwd(vs.begin(), vs.end() - 1);
  Var y = expand_egnn_message(m.a, fwd);
  auto gs = grad(sum(y * vs.back()), fwd);
  std::vector<Var> flat;
  for (auto& v : gs) flat.push_back(reshape(v, {v.shape().numel()}));
  Tensor t = compile(g, {concat(flat, 0)}, Device::cpu()).run(feeds)[0];
  Nd out({t.numel()});
  out.v = t.to_vector();
  return out;
}

void add_case(std::vector<OpCase>& cs, const std::string& label, const MsgCase& m, bool vjp_too = true) {
  {
    OpCase c;
    c.op = "egnn_message";
    c.label = "egnn_message " + label;
    c.inputs = input_specs(m);
    c.build = [m](Graph&, const std::vector<Var>& in) {
      std::vector<Var> ins = in;
      return in[0].graph()->add_op(egnn_message_op(), ins, std::make_shared<EgnnMessageAttr>(m.a));
    };
    c.ref = [m](const std::vector<Nd>& in) { return forward_ref(m, in); };
    cs.push_back(c);
  }
  if (!vjp_too) return;
  OpCase c;
  c.op = "egnn_message_vjp";
  c.label = "egnn_message_vjp " + label;
  c.inputs = input_specs(m);
  c.inputs.push_back(spec({m.B, m.n, m.H + m.d}));
  c.build = [m](Graph&, const std::vector<Var>& in) {
    auto attr = std::make_shared<EgnnMessageVjpAttr>();
    attr->fwd = m.a;
    return in[0].graph()->add_op(egnn_message_vjp_op(), in, attr);
  };
  c.ref = [m](const std::vector<Nd>& in) { return vjp_ref(m, in); };
  cs.push_back(c);
}

}  // namespace

void add_egnn_message_cases(std::vector<OpCase>& cs) {
  MsgCase plain{2, 3, 2, 4, {}};
  add_case(cs, "plain (sum, no options)", plain);
  MsgCase idem{2, 3, 3, 4, {}};  // iDEM's EGNN_dynamics layer: norm_diff, attention, tanh, a = one column
  idem.a.edge_attr = 1;
  idem.a.attention = idem.a.norm_diff = idem.a.tanh = true;
  idem.a.coords_range = 2.5;
  add_case(cs, "norm_diff attention tanh E=1", idem);
  MsgCase full{1, 4, 2, 3, {}};  // two edge attributes, self loops, an active clamp
  full.a.edge_attr = 2;
  full.a.self_loops = true;
  full.a.coord_clamp = 0.3;
  full.a.norm_diff = true;
  add_case(cs, "E=2 self loops clamp 0.3 norm_diff", full);
  MsgCase one{2, 1, 3, 2, {}};  // one node, no self loop: no edges at all
  one.a.attention = true;
  add_case(cs, "n=1 (no edges) attention", one, false);
}

}  // namespace orbit::testing
