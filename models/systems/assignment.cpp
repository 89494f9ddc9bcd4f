// Shortest augmenting path assignment with dual potentials (see assignment.h).
//
// Rows are added one at a time. For a new free row r, a Dijkstra search over the columns finds the
// shortest alternating path (in reduced costs c_ij - u_i - v_j, all >= 0 by the invariant) from r to a
// free column; the potentials of the rows and columns the search settled are then shifted so that the
// reduced costs stay non-negative and are zero along the new matching, and the path is augmented.
// Each search is O(n^2), so the whole solve is O(n^3) in the worst case and far less on typical
// Euclidean costs.
#include "models/systems/assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace orbit::systems {

namespace {

void check_costs(std::span<const double> cost, int64_t n) {
  ORBIT_CHECK(n >= 1, "assignment: need at least one row and column, got n = ", n);
  ORBIT_CHECK(n <= (int64_t{1} << 30), "assignment: n = ", n, " is too large");
  ORBIT_CHECK(static_cast<int64_t>(cost.size()) == n * n, "assignment: the cost matrix has ", cost.size(),
              " entries, expected n * n = ", n * n);
  for (size_t k = 0; k < cost.size(); ++k)
    ORBIT_CHECK(std::isfinite(cost[k]), "assignment: cost entry (", k / n, ", ", k % n, ") is ", cost[k],
                "; costs must be finite");
}

}  // namespace

AssignmentCertificate check_assignment(std::span<const double> cost, int64_t n, std::span<const int32_t> col_for_row,
                                       std::span<const double> u, std::span<const double> v) {
  AssignmentCertificate c;
  ORBIT_CHECK(static_cast<int64_t>(cost.size()) == n * n && static_cast<int64_t>(col_for_row.size()) == n &&
                  static_cast<int64_t>(u.size()) == n && static_cast<int64_t>(v.size()) == n,
              "check_assignment: sizes do not match n = ", n);
  double max_abs = 0;
  for (double x : cost) max_abs = std::max(max_abs, std::fabs(x));
  c.tolerance = 1e-9 * std::max(1.0, max_abs);

  std::vector<char> used(static_cast<size_t>(n), 0);
  c.is_permutation = true;
  for (int64_t i = 0; i < n; ++i) {
    int32_t j = col_for_row[i];
    if (j < 0 || j >= n || used[j]) {
      c.is_permutation = false;
      break;
    }
    used[j] = 1;
  }

  double min_reduced = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double* row = cost.data() + i * n;
    for (int64_t j = 0; j < n; ++j) min_reduced = std::min(min_reduced, row[j] - u[i] - v[j]);
  }
  c.min_reduced_cost = min_reduced;

  long double primal = 0, dual = 0;
  double max_slack = 0;
  for (int64_t i = 0; i < n; ++i) {
    dual += static_cast<long double>(u[i]) + static_cast<long double>(v[i]);
    if (!c.is_permutation) continue;
    int32_t j = col_for_row[i];
    primal += cost[i * n + j];
    max_slack = std::max(max_slack, std::fabs(cost[i * n + j] - u[i] - v[j]));
  }
  c.max_matched_slack = c.is_permutation ? max_slack : std::numeric_limits<double>::infinity();
  c.dual_objective = static_cast<double>(dual);
  long double lower = dual - static_cast<long double>(n) * std::max(0.0, -min_reduced);
  c.gap_bound = c.is_permutation ? static_cast<double>(primal - lower) : std::numeric_limits<double>::infinity();
  c.certified = c.is_permutation && min_reduced >= -c.tolerance && c.max_matched_slack <= c.tolerance;
  return c;
}

Assignment solve_assignment(std::span<const double> cost, int64_t n_rows, int64_t n_cols) {
  ORBIT_CHECK(n_rows == n_cols, "assignment: the cost matrix is ", n_rows, " x ", n_cols,
              "; only square problems (two sets of equal size) are supported");
  return solve_assignment(cost, n_rows);
}

Assignment solve_assignment(std::span<const double> cost, int64_t n64) {
  check_costs(cost, n64);
  const int n = static_cast<int>(n64);
  const double inf = std::numeric_limits<double>::infinity();

  std::vector<double> u(n, 0.0), v(n, 0.0);
  std::vector<int32_t> col_for_row(n, -1), row_for_col(n, -1);
  // Column reduction: v_j = min_i c_ij keeps every reduced cost >= 0 with u = 0 and makes the first
  // searches short.
  for (int j = 0; j < n; ++j) v[j] = inf;
  for (int i = 0; i < n; ++i) {
    const double* row = cost.data() + static_cast<size_t>(i) * n;
    for (int j = 0; j < n; ++j) v[j] = std::min(v[j], row[j]);
  }

  std::vector<double> dist(n);          // tentative shortest path length to each column
  std::vector<int32_t> pred(n);         // the row from which each column was reached
  std::vector<int32_t> todo(n);         // columns not yet settled (first `n_todo` entries)
  std::vector<int32_t> settled_rows;    // rows visited by the search (besides the start row)
  std::vector<int32_t> settled_cols;    // columns settled by the search
  settled_rows.reserve(n);
  settled_cols.reserve(n);

  for (int start = 0; start < n; ++start) {
    std::fill(dist.begin(), dist.end(), inf);
    for (int j = 0; j < n; ++j) todo[j] = j;
    int n_todo = n;
    settled_rows.clear();
    settled_cols.clear();

    int i = start;
    double reach = 0;  // length of the shortest path to the last settled column
    int sink = -1;
    while (sink < 0) {
      const double* row = cost.data() + static_cast<size_t>(i) * n;
      const double base = reach - u[i];
      double best = inf;
      int best_k = -1;
      for (int k = 0; k < n_todo; ++k) {
        const int j = todo[k];
        const double d = base + row[j] - v[j];
        if (d < dist[j]) {
          dist[j] = d;
          pred[j] = i;
        }
        // Among equally short columns prefer a free one: the search ends sooner.
        if (dist[j] < best || (dist[j] == best && row_for_col[j] < 0)) {
          best = dist[j];
          best_k = k;
        }
      }
      ORBIT_CHECK(best_k >= 0 && best < inf, "assignment: no augmenting path (non-finite costs?)");
      reach = best;
      const int j = todo[best_k];
      todo[best_k] = todo[--n_todo];
      settled_cols.push_back(j);
      if (row_for_col[j] < 0) {
        sink = j;
      } else {
        i = row_for_col[j];
        settled_rows.push_back(i);
      }
    }

    // Dual update: reduced costs stay >= 0 and become 0 along the shortest path tree.
    u[start] += reach;
    for (int r : settled_rows) u[r] += reach - dist[col_for_row[r]];
    for (int c : settled_cols) v[c] -= reach - dist[c];

    // Augment along the path back to the start row.
    for (int j = sink;;) {
      const int r = pred[j];
      row_for_col[j] = r;
      std::swap(col_for_row[r], j);
      if (r == start) break;
    }
  }

  Assignment a;
  a.col_for_row = std::move(col_for_row);
  long double total = 0;
  for (int r = 0; r < n; ++r) total += cost[static_cast<size_t>(r) * n + a.col_for_row[r]];
  a.cost = static_cast<double>(total);
  a.u = std::move(u);
  a.v = std::move(v);
  a.certificate = check_assignment(cost, n64, a.col_for_row, a.u, a.v);
  return a;
}

std::vector<double> squared_distance_matrix(std::span<const double> a, std::span<const double> b, int64_t n,
                                            int64_t m, int64_t d) {
  ORBIT_CHECK(n >= 0 && m >= 0 && d >= 1, "squared_distance_matrix: bad sizes n = ", n, ", m = ", m, ", d = ", d);
  ORBIT_CHECK(static_cast<int64_t>(a.size()) == n * d && static_cast<int64_t>(b.size()) == m * d,
              "squared_distance_matrix: expected ", n * d, " and ", m * d, " values, got ", a.size(), " and ",
              b.size());
  std::vector<double> c(static_cast<size_t>(n * m));
  for (int64_t i = 0; i < n; ++i) {
    const double* x = a.data() + i * d;
    for (int64_t j = 0; j < m; ++j) {
      const double* y = b.data() + j * d;
      double s = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double t = x[k] - y[k];
        s += t * t;
      }
      c[i * m + j] = s;
    }
  }
  return c;
}

}  // namespace orbit::systems
