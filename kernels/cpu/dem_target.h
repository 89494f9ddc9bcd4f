// CPU kernel of the DEM Monte-Carlo score target (definition: kernels/scalar/dem_target.h); f64 inside.
#pragma once
#include <cstdint>

#include "kernels/scalar/dem_target.h"

namespace orbit::cpu {

// x [B, D], sigma [B] (the noise scale of each point), means [components, dim] (GMM only) -> out [B, D].
template <class T>
void dem_target(const scalar::DemParams& p, const T* x, const T* sigma, const T* means, int64_t batch, T* out);

}  // namespace orbit::cpu
