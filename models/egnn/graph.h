// Connectivity for message passing: how node tensors become edge tensors (the values at an edge's
// receiver i and sender j) and how edge tensors are aggregated back onto receivers.
//
//  - dense(n): B independent fully connected graphs of n nodes, batched densely. Node tensors are
//    [B, n, ...], edge tensors [B, n, n, ...] (receiver i on axis 1, sender j on axis 2). No index
//    lists: receiver / sender values are broadcasts, aggregation is a (masked) sum over axis 2. The
//    fast path for small systems (n <= 64); B is read from the tensors, so one Connectivity serves any
//    batch size.
//  - sparse(...): a general graph given by edge lists (batches are disjoint unions). Node tensors are
//    [N, ...], edge tensors [E, ...]; receiver / sender values are gathers, aggregation a segment sum
//    over receivers (deterministic; sorted when the receivers are).
// Edge (i, j) carries the message from j to i; aggregation is over j for each i, as in EGNN
// (`row` = receiver, `col` = sender).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"

namespace orbit::egnn {

enum class Agg { sum, mean };
const char* agg_name(Agg a);
Agg agg_from_name(const std::string& s);  // "sum" or "mean"; throws on others

class Connectivity {
 public:
  // B fully connected graphs of n nodes (with or without the self loops i = i).
  static Connectivity dense(int64_t n, bool self_loops = false);
  // num_nodes nodes and the edges receivers[e] <- senders[e] (stored as constants of graph g).
  static Connectivity sparse(Graph& g, int64_t num_nodes, const std::vector<int32_t>& receivers,
                             const std::vector<int32_t>& senders);
  // The same graphs as dense(n, self_loops) for `batch` systems, as edge lists (node b*n + i), edges
  // ordered by receiver then sender.
  static Connectivity sparse_fully_connected(Graph& g, int64_t batch, int64_t n, bool self_loops = false);

  bool is_dense() const { return dense_; }
  int64_t nodes_per_graph() const { return n_; }  // dense only
  int64_t num_nodes() const { return num_nodes_; }  // sparse only
  int64_t num_edges() const { return num_edges_; }  // sparse only
  bool self_loops() const { return self_loops_; }

  // Node tensor -> its value at each edge's receiver / sender. Dense: [B, n, ...] -> [B, n, 1, ...] /
  // [B, 1, n, ...] (broadcast views, full once combined); sparse: [N, ...] -> [E, ...].
  Var at_receiver(Var node) const;
  Var at_sender(Var node) const;
  // x_i - x_j for every edge: [B, n, n, ...] or [E, ...].
  Var diff(Var node) const;
  // Sum or mean over each receiver's incoming edges (mean: divided by the number of incoming edges,
  // at least 1). Dense: [B, n, n, ...] -> [B, n, ...] (self loops masked out unless the graph has
  // them); sparse: [E, ...] -> [N, ...].
  Var aggregate(Var edge, Agg agg) const;

  // Checks that `v` is a node tensor of this connectivity (a clear error naming `what` otherwise).
  void check_node(Var v, const char* what) const;
  void check_edge(Var v, const char* what) const;

 private:
  bool dense_ = true, self_loops_ = false, sorted_ = false;
  int64_t n_ = 0, num_nodes_ = 0, num_edges_ = 0;
  Var recv_, send_;
  std::vector<double> inv_count_;  // sparse: 1 / max(1, in-degree) per node
};

}  // namespace orbit::egnn
