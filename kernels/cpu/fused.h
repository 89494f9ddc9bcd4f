// CPU kernel of the fused elementwise op: interprets the group's register program over chunks of
// elements (one pass over memory for the whole group; every instruction a tight loop over the chunk
// with the same scalar functor the unfused kernel uses, so results are identical).
#pragma once
#include <cstdint>

#include "kernels/scalar/fused.h"

namespace orbit::cpu {

template <class T>
void fused_elementwise(const scalar::FusedProgram& p, const T* const* in, T* out, int64_t n);

}  // namespace orbit::cpu
