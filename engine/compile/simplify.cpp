// Constant folding, algebraic simplification and CSE over a pruned graph.
#include <cmath>
#include <map>
#include <tuple>

#include "engine/builtin_ops.h"
#include "engine/compile/passes.h"
#include "engine/op_registry.h"
#include "engine/ops.h"

namespace orbit::passes {

namespace {

constexpr int64_t kFoldLimit = 1 << 16;  // never fold constants larger than this many elements

Tensor eval_on_cpu(const Node& node, std::vector<Tensor> ins) {
  const OpDef& def = ops().get(node.op);
  auto& k = def.kernels[0];
  ORBIT_CHECK(k != nullptr, "op '", def.name, "' has no CPU kernel");
  Tensor out = Tensor::empty(node.shape, node.dtype);
  KernelCtx ctx{node, ins, out, 0, nullptr};
  k(ctx);
  return out;
}

class Simplifier {
 public:
  explicit Simplifier(const Graph& src) : src_(src) {}

  Rewritten run(const std::vector<NodeId>& outputs) {
    std::vector<NodeId> map(src_.size(), -1);
    for (NodeId i = 0; i < src_.size(); ++i) map[i] = visit(src_.node(i), map);
    Rewritten r;
    r.graph = std::move(g_);
    for (NodeId o : outputs) r.outputs.push_back(map[o]);
    return r;
  }

 private:
  NodeId visit(const Node& n, const std::vector<NodeId>& map) {
    if (n.kind == NodeKind::input || n.kind == NodeKind::parameter) return g_.add_node_unchecked(n);
    if (n.kind == NodeKind::constant) return constant(n.value, n.name);
    Node m = n;
    for (auto& in : m.inputs) in = map[in];
    NodeId s = algebra(m);
    if (s >= 0) return s;
    s = fold(m);
    if (s >= 0) return s;
    return cse(std::move(m));
  }

  // Constants are deduplicated when they are bit-for-bit equal (comparing as doubles would merge -0
  // with +0, and NaN with every value) and not large: masks built again by each expansion of a layer
  // (an EGNN layer's off-diagonal mask is n^2 values, in its forward and again in its VJP) must merge,
  // or nothing computed from them does.
  NodeId constant(const Tensor& v, const std::string& name) {
    if (v.numel() <= kFoldLimit) {
      auto key = std::make_tuple(v.dtype(), v.shape().vec(),
                                 std::string(static_cast<const char*>(v.raw()), v.nbytes()));
      auto it = consts_.find(key);
      if (it != consts_.end()) return it->second;
      NodeId id = g_.constant(v, name).id();
      consts_[key] = id;
      return id;
    }
    return g_.constant(v, name).id();
  }

  NodeId cse(Node m) {
    std::string key = std::to_string(m.op) + "|" + (m.attr ? m.attr->str() : "");
    for (NodeId in : m.inputs) key += "|" + std::to_string(in);
    auto it = cse_.find(key);
    if (it != cse_.end()) return it->second;
    NodeId id = g_.add_node_unchecked(std::move(m));
    cse_[key] = id;
    return id;
  }

  // The value of a node that holds one repeated scalar (a constant or a broadcast/reshape of one).
  bool scalar_value(NodeId id, double& v) const {
    const Node& n = g_.node(id);
    if (n.kind == NodeKind::constant) {
      if (n.value.numel() == 0 || n.value.numel() > 4096) return false;
      v = n.value.at(0);
      for (int64_t i = 1; i < n.value.numel(); ++i)
        if (n.value.at(i) != v) return false;
      return !std::isnan(v);
    }
    if (is(n, Op::broadcast_to) || is(n, Op::reshape) || is(n, Op::permute)) return scalar_value(n.inputs[0], v);
    return false;
  }
  bool is_value(NodeId id, double want) const {
    double v;
    return scalar_value(id, v) && v == want;
  }

  // A node of the output's type holding `v` everywhere.
  NodeId filled(const Node& m, double v) {
    NodeId s = constant(Tensor::scalar(v, m.dtype), "");
    if (m.shape.rank() == 0) return s;
    return via_builder([&] { return broadcast_to(g_.var(s), m.shape); });
  }
  // x as the output's shape (x already has its dtype).
  NodeId as_out(const Node& m, NodeId x) {
    if (g_.node(x).shape == m.shape) return x;
    return via_builder([&] { return broadcast_to(g_.var(x), m.shape); });
  }
  template <class F>
  NodeId via_builder(F f) {
    Var v = f();
    // Route the builder's node through CSE so repeated rewrites share it.
    Node copy = g_.node(v.id());
    std::string key = std::to_string(copy.op) + "|" + (copy.attr ? copy.attr->str() : "");
    for (NodeId in : copy.inputs) key += "|" + std::to_string(in);
    auto it = cse_.find(key);
    if (it != cse_.end()) return it->second;  // the fresh node stays dead; prune drops it
    cse_[key] = v.id();
    return v.id();
  }

  // via_builder, with the new node simplified in turn: a rewrite may open another (a matmul becomes a
  // product of ones and a row, which becomes the row broadcast). Only for rules whose results are
  // smaller products (filled() itself builds a broadcast that algebra() would rebuild).
  template <class F>
  NodeId via_builder_simplified(F f) {
    Var v = f();
    const Node copy = g_.node(v.id());  // a copy: algebra() may add nodes (and move the graph's storage)
    const NodeId s = algebra(copy);
    return s >= 0 ? s : via_builder([&] { return v; });
  }

  // A 2-D matrix product that is an outer product, rewritten exactly (the bits the GEMM gives: one
  // product per element, rounded once):
  //  - a contraction of length 1: mul(column, row), which broadcasts and fuses into its readers (the
  //    VJP of a product seeded with ones gives these: every gradient of a sum of outputs has one);
  //  - an operand zero-padded along the contraction to more than one, around a single column (row):
  //    the padding multiplies zeros, so this is the outer product of the column and the other operand's
  //    matching row (PINN derivatives seed with one column of the input this way).
  // A product that may be a dense layer (untransposed, a weight leaf on the right) stays: MLP fusion
  // takes chains of those, width 1 included. Padding that leaves more than one term, or pads the output's
  // rows or columns, stays too: a shorter or narrower GEMM may associate its sums differently.
  NodeId matmul_structure(const Node& m) {
    const auto& at = m.attr_as<MatmulAttr>();
    const NodeId a = m.inputs[0], b = m.inputs[1];
    const Node na = g_.node(a), nb = g_.node(b);  // copies: the builders below add nodes
    if (na.shape.rank() != 2 || nb.shape.rank() != 2 || m.shape.rank() != 2) return -1;
    if (!at.trans_a && !at.trans_b && nb.kind == NodeKind::parameter) return -1;
    const int ka = at.trans_a ? 0 : 1, kb = at.trans_b ? 1 : 0;  // the contraction axis of each
    const int64_t M = m.shape[0], N = m.shape[1], K = na.shape[ka];
    auto outer = [&](NodeId col_of, NodeId row_of) {  // col_of holds M values, row_of N
      return via_builder_simplified([&] {
        Var col = g_.node(col_of).shape == Shape{M, 1} ? g_.var(col_of) : reshape(g_.var(col_of), {M, 1});
        Var row = g_.node(row_of).shape == Shape{1, N} ? g_.var(row_of) : reshape(g_.var(row_of), {1, N});
        return mul(col, row);
      });
    };
    if (K == 1) return outer(a, b);
    for (int side = 0; side < 2; ++side) {
      const Node& p = side == 0 ? na : nb;
      if (!is(p, Op::pad) || p.attr_as<PadAttr>().value != 0) continue;
      const PadAttr pa = p.attr_as<PadAttr>();
      const int k_axis = side == 0 ? ka : kb;
      if (pa.lo[1 - k_axis] != 0 || pa.hi[1 - k_axis] != 0 || K - pa.lo[k_axis] - pa.hi[k_axis] != 1) continue;
      const NodeId other = side == 0 ? b : a;
      const int64_t at_k = pa.lo[k_axis];
      const NodeId cut = via_builder([&] { return slice(g_.var(other), side == 0 ? kb : ka, at_k, at_k + 1); });
      return side == 0 ? outer(p.inputs[0], cut) : outer(cut, p.inputs[0]);
    }
    return -1;
  }

  // A slice of a concat that lies within one of its pieces is a slice of that piece (the piece itself
  // when it is all of it): layers that return several results concatenated and are read apart again.
  NodeId slice_of_concat(const Node& m) {
    const Node c = g_.node(m.inputs[0]);  // a copy: the builder below adds nodes
    if (!is(c, Op::concat)) return -1;
    const int64_t axis = c.attr_as<AxisAttr>().axis;
    const SliceAttr sa = m.attr_as<SliceAttr>();
    const int64_t lo = sa.starts[static_cast<size_t>(axis)], hi = sa.ends[static_cast<size_t>(axis)];
    int64_t at = 0;
    for (NodeId piece : c.inputs) {
      const Shape ps = g_.node(piece).shape;
      const int64_t len = ps[static_cast<int>(axis)];
      if (lo >= at && hi <= at + len && hi > lo) {
        std::vector<int64_t> starts = sa.starts, ends = sa.ends;
        starts[static_cast<size_t>(axis)] -= at;
        ends[static_cast<size_t>(axis)] -= at;
        bool whole = true;
        for (int k = 0; k < ps.rank(); ++k) whole = whole && starts[static_cast<size_t>(k)] == 0 && ends[static_cast<size_t>(k)] == ps[k];
        if (whole) return piece;
        return via_builder([&] { return slice(g_.var(piece), starts, ends); });
      }
      at += len;
    }
    return -1;
  }

  // A slice of a pad that lies within the padding is the pad value; within the padded tensor, a slice
  // of it. (The VJP of a concat pads each piece's gradient to the whole and the next VJP slices it apart
  // again; a gradient that is zero for one piece then folds away.)
  NodeId slice_of_pad(const Node& m) {
    const Node p = g_.node(m.inputs[0]);  // a copy: the builders below add nodes
    if (!is(p, Op::pad)) return -1;
    const PadAttr pa = p.attr_as<PadAttr>();
    const SliceAttr sa = m.attr_as<SliceAttr>();
    const Shape xs = g_.node(p.inputs[0]).shape;
    bool inside = true, outside = false;
    std::vector<int64_t> starts = sa.starts, ends = sa.ends;
    for (int k = 0; k < xs.rank(); ++k) {
      const size_t u = static_cast<size_t>(k);
      const int64_t lo = sa.starts[u] - pa.lo[u], hi = sa.ends[u] - pa.lo[u];  // in the input's coordinates
      if (hi <= 0 || lo >= xs[k]) outside = true;                            // all padding along this axis
      inside = inside && lo >= 0 && hi <= xs[k];
      starts[u] = lo, ends[u] = hi;
    }
    if (outside && m.shape.numel() > 0) return filled(m, pa.value);
    if (!inside) return -1;
    bool whole = true;
    for (int k = 0; k < xs.rank(); ++k) whole = whole && starts[static_cast<size_t>(k)] == 0 && ends[static_cast<size_t>(k)] == xs[k];
    if (whole) return p.inputs[0];
    return via_builder([&] { return slice(g_.var(p.inputs[0]), starts, ends); });
  }

  // An elementwise op of several inputs reads broadcast_to(x) as x where the result's shape stays the
  // same: the kernels broadcast as they read (stride 0), so the broadcast need not be materialised.
  NodeId unbroadcast_inputs(const Node& m) {
    if (m.inputs.size() < 2) return -1;
    Node r = m;
    bool changed = false;
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      const Node& in = g_.node(r.inputs[i]);
      if (!is(in, Op::broadcast_to) || g_.node(in.inputs[0]).dtype != in.dtype) continue;
      Node trial = r;
      trial.inputs[i] = in.inputs[0];
      Shape out = g_.node(trial.inputs[0]).shape;
      bool ok = true;
      for (size_t j = 1; j < trial.inputs.size() && ok; ++j) {
        Shape next;
        ok = broadcast_shapes(out, g_.node(trial.inputs[j]).shape, next);
        out = next;
      }
      if (ok && out == m.shape) {
        r = std::move(trial);
        changed = true;
      }
    }
    return changed ? cse(std::move(r)) : -1;
  }

  NodeId algebra(const Node& m) {
    const OpDef& def = ops().get(m.op);
    if (def.random) return -1;
    auto in = [&](int i) { return m.inputs[i]; };
    auto op = static_cast<Op>(m.op);
    double v;

    // Every input a repeated scalar: evaluate once on scalars for elementwise ops.
    if (def.elementwise && m.op < id(Op::kCount)) {
      std::vector<Tensor> sc;
      bool all = true;
      for (NodeId i : m.inputs) {
        if (!scalar_value(i, v)) {
          all = false;
          break;
        }
        sc.push_back(Tensor::scalar(v, g_.node(i).dtype));
      }
      if (all) {
        Node scalar_node = m;
        scalar_node.shape = Shape{};
        double r = eval_on_cpu(scalar_node, sc).at(0);
        if (!std::isnan(r)) return filled(m, r);
      }
    }
    switch (op) {
      case Op::add:
        if (is_value(in(0), 0)) return as_out(m, in(1));
        if (is_value(in(1), 0)) return as_out(m, in(0));
        break;
      case Op::sub:
        if (is_value(in(1), 0)) return as_out(m, in(0));
        if (is_value(in(0), 0)) return as_out(m, via_builder([&] { return neg(g_.var(in(1))); }));
        break;
      case Op::mul:
        if (is_value(in(0), 0) || is_value(in(1), 0)) return filled(m, 0);
        if (is_value(in(0), 1)) return as_out(m, in(1));
        if (is_value(in(1), 1)) return as_out(m, in(0));
        if (is_value(in(0), -1)) return as_out(m, via_builder([&] { return neg(g_.var(in(1))); }));
        if (is_value(in(1), -1)) return as_out(m, via_builder([&] { return neg(g_.var(in(0))); }));
        break;
      case Op::div:
        if (is_value(in(0), 0)) return filled(m, 0);
        if (is_value(in(1), 1)) return as_out(m, in(0));
        break;
      case Op::neg:
        if (is(g_.node(in(0)), Op::neg)) return g_.node(in(0)).inputs[0];
        break;
      case Op::pow_scalar:
        if (m.attr_as<PowScalarAttr>().exponent == 1) return in(0);
        break;
      case Op::reshape:
        if (g_.node(in(0)).shape == m.shape) return in(0);
        if (is(g_.node(in(0)), Op::reshape)) {
          NodeId inner = g_.node(in(0)).inputs[0];
          if (g_.node(inner).shape == m.shape) return inner;
          return via_builder([&] { return reshape(g_.var(inner), m.shape.vec()); });
        }
        break;
      case Op::broadcast_to:
      case Op::permute:
      case Op::cast:
        if (g_.node(in(0)).shape == m.shape && g_.node(in(0)).dtype == m.dtype) {
          if (op != Op::permute) return in(0);
          auto& p = m.attr_as<PermuteAttr>().perm;
          bool ident = true;
          for (size_t i = 0; i < p.size(); ++i) ident &= p[i] == static_cast<int64_t>(i);
          if (ident) return in(0);
        }
        break;
      default: break;
    }
    // Structural ops and reductions of a repeated scalar.
    if (m.inputs.size() >= 1 && scalar_value(in(0), v)) {
      switch (op) {
        case Op::reshape: case Op::permute: case Op::slice: case Op::broadcast_to: case Op::gather:
        case Op::reduce_mean: case Op::reduce_max:
          return filled(m, v);
        case Op::pad:
          if (m.attr_as<PadAttr>().value == v) return filled(m, v);
          break;
        case Op::reduce_sum: {
          int64_t count = g_.node(in(0)).shape.numel() / (m.shape.numel() > 0 ? m.shape.numel() : 1);
          return filled(m, v * static_cast<double>(count));
        }
        case Op::segment_sum: case Op::segment_mean:
          if (v == 0) return filled(m, 0);
          break;
        case Op::matmul:
          if (v == 0) return filled(m, 0);
          break;
        case Op::concat: {
          bool same = true;
          double w;
          for (NodeId i : m.inputs) same &= scalar_value(i, w) && w == v;
          if (same) return filled(m, v);
          break;
        }
        default: break;
      }
    }
    if (op == Op::matmul && is_value(in(1), 0)) return filled(m, 0);
    if (op == Op::matmul) return matmul_structure(m);
    if (op == Op::slice) {
      const NodeId r = slice_of_concat(m);
      return r >= 0 ? r : slice_of_pad(m);
    }
    if (def.elementwise && m.op < id(Op::kCount)) return unbroadcast_inputs(m);
    return -1;
  }

  NodeId fold(const Node& m) {
    const OpDef& def = ops().get(m.op);
    if (def.random || !def.kernels[0]) return -1;
    int64_t biggest = 0;
    std::vector<Tensor> vals;
    for (NodeId i : m.inputs) {
      const Node& n = g_.node(i);
      if (n.kind != NodeKind::constant) return -1;
      vals.push_back(n.value);
      biggest = std::max(biggest, n.value.numel());
    }
    int64_t out = m.shape.numel();
    if (out > kFoldLimit || (out > biggest && out > 64)) return -1;
    return constant(eval_on_cpu(m, vals), m.name);
  }

  const Graph& src_;
  Graph g_;
  std::map<std::string, NodeId> cse_;
  std::map<std::tuple<DType, std::vector<int64_t>, std::string>, NodeId> consts_;
};

}  // namespace

Rewritten simplify(const Graph& g, const std::vector<NodeId>& outputs) {
  Rewritten cur = prune(g, outputs);
  for (int iter = 0; iter < 8; ++iter) {
    int before = cur.graph.size();
    Rewritten s = Simplifier(cur.graph).run(cur.outputs);
    cur = prune(s.graph, s.outputs);
    if (cur.graph.size() >= before) break;
  }
  return cur;
}

}  // namespace orbit::passes
