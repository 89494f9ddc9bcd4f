#include "models/pinn/fft.h"

#include <cmath>

#include "engine/error.h"

namespace orbit::pinn {

void fft(std::vector<std::complex<double>>& a, int sign) {
  const size_t n = a.size();
  ORBIT_CHECK(n > 0 && (n & (n - 1)) == 0, "fft: size ", n, " is not a power of two");
  for (size_t i = 1, j = 0; i < n; ++i) {  // bit-reversal permutation
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    double ang = sign * 2 * M_PI / static_cast<double>(len);
    for (size_t i = 0; i < n; i += len)
      for (size_t k = 0; k < len / 2; ++k) {
        std::complex<double> w = std::polar(1.0, ang * static_cast<double>(k));
        std::complex<double> u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
  }
}

}  // namespace orbit::pinn
