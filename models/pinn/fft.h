// A radix-2 complex FFT (in place), for the spectral parts of the PINN reference solutions.
#pragma once
#include <complex>
#include <vector>

namespace orbit::pinn {

// Forward (sign -1) or inverse (sign +1, unnormalised) transform; the size must be a power of two.
void fft(std::vector<std::complex<double>>& a, int sign);

}  // namespace orbit::pinn
