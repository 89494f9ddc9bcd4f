// Exact linear assignment (minimum-cost perfect matching of an n x n cost matrix) by shortest
// augmenting paths with dual potentials, in the manner of Jonker and Volgenant: O(n^3) time, O(n^2)
// for the caller's matrix and O(n) extra, f64 costs. This is the exact optimal transport between two
// equal-size uniform point sets (a Birkhoff vertex is optimal), which the x-space 2-Wasserstein needs.
//
// Every solve is followed by an independent check of its optimality certificate: the dual potentials
// u (rows) and v (columns) must satisfy c_ij - u_i - v_j >= 0 for every (i, j) (dual feasibility) and
// = 0 on the matched pairs (complementary slackness). Then for any permutation p,
//   sum_i c_{i p(i)} >= sum u + sum v - n * max_negative_reduced_cost,
// so the returned matching is within `gap_bound` of the optimum; floating-point round-off makes the two
// checks hold up to a tolerance, which the certificate reports.
//
// Only square problems: two sets of different sizes are an error (pad with a constant column
// yourself if a rectangular matching is what you want).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace orbit::systems {

struct AssignmentCertificate {
  double min_reduced_cost = 0;   // min over all (i, j) of c_ij - u_i - v_j (>= -tolerance when feasible)
  double max_matched_slack = 0;  // max over matched pairs of |c_ij - u_i - v_j|
  double dual_objective = 0;     // sum u + sum v
  double gap_bound = 0;          // cost - (dual_objective - n * max(0, -min_reduced_cost)): >= suboptimality
  double tolerance = 0;          // what the checks allowed: 1e-9 * max(1, max |c_ij|)
  bool is_permutation = false;   // every row matched to a distinct column
  bool certified = false;        // is_permutation, and both checks hold within tolerance
};

struct Assignment {
  std::vector<int32_t> col_for_row;  // row i is matched to column col_for_row[i]
  double cost = 0;                   // sum_i c_{i, col_for_row[i]} (summed in long double)
  std::vector<double> u, v;          // the dual potentials
  AssignmentCertificate certificate;
};

// `cost` is row-major n x n (n >= 1), finite values only; throws orbit::Error otherwise, naming the
// problem. The certificate is always computed; callers that need exactness check `certified`.
Assignment solve_assignment(std::span<const double> cost, int64_t n);
// The same for n_rows x n_cols; throws unless n_rows == n_cols (the message names both sizes).
Assignment solve_assignment(std::span<const double> cost, int64_t n_rows, int64_t n_cols);

// Verifies the certificate of (col_for_row, u, v) against `cost` (n x n): used by the solver and
// usable on any candidate solution.
AssignmentCertificate check_assignment(std::span<const double> cost, int64_t n, std::span<const int32_t> col_for_row,
                                       std::span<const double> u, std::span<const double> v);

// Squared Euclidean distances between the rows of a [n, d] and b [m, d] (row-major), [n, m].
std::vector<double> squared_distance_matrix(std::span<const double> a, std::span<const double> b, int64_t n,
                                            int64_t m, int64_t d);

}  // namespace orbit::systems
