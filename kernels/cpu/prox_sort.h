// Stable argsort of f32/f64 keys for the weight-sharing prox: an LSD radix sort over the keys'
// order-preserving bit patterns (parallel histograms and scatters per chunk). Keys must not be NaN.
#pragma once
#include <cstdint>

namespace orbit::cpu::prox {

// sorted[k] = w[perm[k]], ascending; equal keys keep their input order (-0 sorts before +0).
// sorted may be null when only the permutation is wanted.
template <class T>
void radix_argsort(const T* w, int64_t n, T* sorted, int64_t* perm);

}  // namespace orbit::cpu::prox
