// CPU parameter updates: one fused loop per parameter tensor (no temporaries).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

// p -= lr * (g + wd p + ...) with heavy-ball momentum: buf = mu buf + g'; step along buf (or g' + mu buf
// when nesterov). `buf` may be null when mu == 0.
template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, double lr, double mu, double wd, bool nesterov, bool first) {
  parallel_for(n, 1 << 15, [&](int64_t i) {
    double gi = double(g[i]) + wd * double(p[i]);
    double d = gi;
    if (mu != 0) {
      double b = first ? gi : mu * double(buf[i]) + gi;
      buf[i] = static_cast<T>(b);
      d = nesterov ? gi + mu * b : b;
    }
    p[i] = static_cast<T>(double(p[i]) - lr * d);
  });
}

// Adam (Kingma & Ba) with bias correction; `decoupled` gives AdamW (weight decay applied to p
// directly), otherwise the decay is added to the gradient (L2, as torch.optim.Adam).
template <class T>
void adam_update(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                 bool decoupled, int64_t t) {
  const double c1 = 1 - std::pow(b1, double(t)), c2 = 1 - std::pow(b2, double(t));
  parallel_for(n, 1 << 15, [&](int64_t i) {
    double pi = double(p[i]), gi = double(g[i]);
    if (decoupled) pi -= lr * wd * pi;
    else gi += wd * pi;
    double mi = b1 * double(m[i]) + (1 - b1) * gi;
    double vi = b2 * double(v[i]) + (1 - b2) * gi * gi;
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
    p[i] = static_cast<T>(pi - lr * (mi / c1) / (std::sqrt(vi / c2) + eps));
  });
}

// avg = decay avg + (1 - decay) p
template <class T>
void ema_update(T* avg, const T* p, int64_t n, double decay) {
  parallel_for(n, 1 << 15, [&](int64_t i) { avg[i] = static_cast<T>(decay * double(avg[i]) + (1 - decay) * double(p[i])); });
}

template <class T>
double sum_squares(const T* g, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(g[i]) * double(g[i]);
  return s;
}

template <class T>
void scale(T* g, int64_t n, double c) {
  parallel_for(n, 1 << 15, [&](int64_t i) { g[i] = static_cast<T>(double(g[i]) * c); });
}

}  // namespace orbit::cpu
