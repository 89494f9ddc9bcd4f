// CUDA kernels of the Boltzmann-system energies (launchers on raw device pointers; the CPU reference
// is kernels/cpu/systems.h). Energy and gradient of every configuration in one pass.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"
#include "kernels/scalar/pair_potential.h"

namespace orbit::cuda {

// x: [batch, n * dim]. Energy b goes to energy[b * energy_stride] (skipped if null), dE/dx of
// configuration b to grad[b * grad_stride + k] (skipped if null). dim <= 8.
//
// Layout: a group of G = min(32, pow2 >= n) lanes per configuration (several configurations per warp
// for small n, one warp for n > 32), positions staged in shared memory, lane l owning particles
// l, l + G, .... Up to n = 4 G (128 particles) every unordered pair is computed once, in the ring
// schedule of kernels/scalar/pair_ring.h: the owner keeps its force in registers and subtracts the
// reaction from the partner's accumulator in shared memory (partners of one step are distinct: no
// atomics). Beyond that, or with ORBIT_PAIR_CUDA_ORDERED=1, each lane sums its particles' terms over
// all partners (every pair visited from both ends). The energy is one shuffle reduction per group.
void pair_potential(Elem t, const scalar::PairParams& p, const void* x, int64_t batch, void* energy,
                    int64_t energy_stride, void* grad, int64_t grad_stride, cudaStream_t s);

// One thread per configuration, an online (streaming) logsumexp over the components.
void gmm_energy(Elem t, const scalar::GmmParams& p, const void* x, const void* means, int64_t batch, void* energy,
                int64_t energy_stride, void* grad, int64_t grad_stride, cudaStream_t s);

}  // namespace orbit::cuda

#include "kernels/scalar/dem_target.h"

namespace orbit::cuda {

// The DEM Monte-Carlo score target (kernels/scalar/dem_target.h): one block per point, each thread
// owning a strided share of the K noisy copies with a private online softmax, combined in shared
// memory; nothing of size K x B leaves the chip. x [B, D], sigma [B], means (GMM) -> out [B, D]. D <= 192.
// run_dev, when not null, holds the run counter instead of p.run (programs replayed as CUDA graphs).
void dem_target(Elem t, const scalar::DemParams& p, const void* x, const void* sigma, const void* means,
                int64_t batch, void* out, const uint64_t* run_dev, cudaStream_t s);

}  // namespace orbit::cuda
