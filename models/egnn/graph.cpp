#include "models/egnn/graph.h"

#include <algorithm>

#include "engine/ops.h"

namespace orbit::egnn {

const char* agg_name(Agg a) { return a == Agg::sum ? "sum" : "mean"; }

Agg agg_from_name(const std::string& s) {
  if (s == "sum") return Agg::sum;
  if (s == "mean") return Agg::mean;
  throw Error("unknown aggregation '" + s + "': expected sum or mean");
}

Connectivity Connectivity::dense(int64_t n, bool self_loops) {
  ORBIT_CHECK(n >= 1, "a dense graph needs at least one node, got n = ", n);
  Connectivity c;
  c.dense_ = true;
  c.n_ = n;
  c.self_loops_ = self_loops;
  return c;
}

Connectivity Connectivity::sparse(Graph& g, int64_t num_nodes, const std::vector<int32_t>& receivers,
                                  const std::vector<int32_t>& senders) {
  ORBIT_CHECK(num_nodes >= 1, "a sparse graph needs at least one node, got ", num_nodes);
  ORBIT_CHECK(receivers.size() == senders.size(), "edge lists differ in length: ", receivers.size(),
              " receivers, ", senders.size(), " senders");
  ORBIT_CHECK(!receivers.empty(), "a sparse graph needs at least one edge");
  Connectivity c;
  c.dense_ = false;
  c.num_nodes_ = num_nodes;
  c.num_edges_ = static_cast<int64_t>(receivers.size());
  std::vector<int64_t> count(num_nodes, 0);
  for (size_t e = 0; e < receivers.size(); ++e) {
    ORBIT_CHECK(receivers[e] >= 0 && receivers[e] < num_nodes && senders[e] >= 0 && senders[e] < num_nodes, "edge ", e,
                " (", receivers[e], " <- ", senders[e], ") names a node outside [0, ", num_nodes, ")");
    ++count[receivers[e]];
    if (receivers[e] == senders[e]) c.self_loops_ = true;
  }
  c.sorted_ = std::is_sorted(receivers.begin(), receivers.end());
  c.inv_count_.resize(num_nodes);
  for (int64_t i = 0; i < num_nodes; ++i) c.inv_count_[i] = 1.0 / static_cast<double>(std::max<int64_t>(1, count[i]));
  c.recv_ = g.constant(Tensor::from<int32_t>({c.num_edges_}, receivers), "edges/receivers");
  c.send_ = g.constant(Tensor::from<int32_t>({c.num_edges_}, senders), "edges/senders");
  return c;
}

Connectivity Connectivity::sparse_fully_connected(Graph& g, int64_t batch, int64_t n, bool self_loops) {
  ORBIT_CHECK(batch >= 1 && n >= 1, "sparse_fully_connected needs batch >= 1 and n >= 1");
  ORBIT_CHECK(batch * n * n < (int64_t{1} << 31), "too many edges for 32-bit indices");
  std::vector<int32_t> r, s;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (self_loops || i != j) {
          r.push_back(static_cast<int32_t>(b * n + i));
          s.push_back(static_cast<int32_t>(b * n + j));
        }
  ORBIT_CHECK(!r.empty(), "a fully connected graph of one node without self loops has no edges");
  return sparse(g, batch * n, r, s);
}

void Connectivity::check_node(Var v, const char* what) const {
  ORBIT_CHECK(v.valid(), what, " is missing");
  if (dense_)
    ORBIT_CHECK(v.rank() >= 2 && v.shape()[1] == n_, what, " must be a dense node tensor [B, ", n_, ", ...], got '",
                v.name(), "' ", v.shape().str());
  else
    ORBIT_CHECK(v.rank() >= 1 && v.shape()[0] == num_nodes_, what, " must be a node tensor [", num_nodes_,
                ", ...], got '", v.name(), "' ", v.shape().str());
}

void Connectivity::check_edge(Var v, const char* what) const {
  ORBIT_CHECK(v.valid(), what, " is missing");
  if (dense_)
    ORBIT_CHECK(v.rank() >= 3 && (v.shape()[1] == n_ || v.shape()[1] == 1) && (v.shape()[2] == n_ || v.shape()[2] == 1),
                what, " must be a dense edge tensor [B, ", n_, ", ", n_, ", ...], got '", v.name(), "' ",
                v.shape().str());
  else
    ORBIT_CHECK(v.rank() >= 1 && v.shape()[0] == num_edges_, what, " must be an edge tensor [", num_edges_,
                ", ...], got '", v.name(), "' ", v.shape().str());
}

namespace {
Var insert_axis(Var v, int axis) {
  auto s = v.shape().vec();
  s.insert(s.begin() + axis, 1);
  return reshape(v, s);
}
}  // namespace

Var Connectivity::at_receiver(Var node) const {
  check_node(node, "the node tensor");
  return dense_ ? insert_axis(node, 2) : gather(node, recv_, 0);
}

Var Connectivity::at_sender(Var node) const {
  check_node(node, "the node tensor");
  return dense_ ? insert_axis(node, 1) : gather(node, send_, 0);
}

Var Connectivity::diff(Var node) const { return at_receiver(node) - at_sender(node); }

Var Connectivity::aggregate(Var edge, Agg agg) const {
  check_edge(edge, "the edge tensor");
  if (!dense_) {
    Var s = segment_sum(edge, recv_, num_nodes_, 0, sorted_);
    if (agg == Agg::sum) return s;
    auto shape = s.shape().vec();
    std::fill(shape.begin() + 1, shape.end(), 1);
    Tensor inv = Tensor::from<double>({num_nodes_}, inv_count_).cast(edge.dtype()).reshaped(Shape(shape));
    return s * edge.graph()->constant(inv, "edges/inv_degree");
  }
  auto full = edge.shape().vec();
  full[1] = full[2] = n_;
  Var e = edge.shape() == Shape(full) ? edge : broadcast_to(edge, Shape(full));
  if (!self_loops_) {
    std::vector<int64_t> ms(static_cast<size_t>(e.rank() - 1), 1);
    ms[0] = ms[1] = n_;
    std::vector<double> m(static_cast<size_t>(n_ * n_), 1.0);
    for (int64_t i = 0; i < n_; ++i) m[static_cast<size_t>(i * n_ + i)] = 0.0;
    e = e * edge.graph()->constant(Tensor::from<double>({n_ * n_}, m).cast(edge.dtype()).reshaped(Shape(ms)),
                                   "edges/offdiag");
  }
  Var s = sum(e, {2});
  if (agg == Agg::sum) return s;
  const int64_t deg = self_loops_ ? n_ : std::max<int64_t>(1, n_ - 1);
  return s * (1.0 / static_cast<double>(deg));
}

}  // namespace orbit::egnn
