// LayerNorm over the last axis on the CPU (C++ + OpenMP), inference: per row one pass for the
// mean, one for the variance, one to normalize (two-pass variance, as PyTorch; Jittor's
// nn.LayerNorm uses E[x^2] - E[x]^2 across several kernels).
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_LAYER_NORM_CPU_H
#define JSEG_LAYER_NORM_CPU_H

#include <cmath>
#include <cstdint>

namespace jseg_layer_norm {

// Sum of n values with 8 independent partial sums, so the compiler vectorises it without
// -ffast-math (a single accumulator is a serial dependency chain).
template <typename T, typename F>
inline T lane_sum(int64_t n, F value) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int u = 0; u < 8; ++u) acc[u] += value(k + u);
  T total = 0;
  for (; k < n; ++k) total += value(k);
  for (int u = 0; u < 8; ++u) total += acc[u];
  return total;
}

template <typename T>
void forward(const T* x, const T* weight, const T* bias, T* y, int64_t rows, int64_t c,
             float eps) {
  #pragma omp parallel for schedule(static) if (rows * c > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    const T mean = lane_sum<T>(c, [&](int64_t k) { return xr[k]; }) / static_cast<T>(c);
    const T var = lane_sum<T>(c, [&](int64_t k) {
      const T d = xr[k] - mean;
      return d * d;
    }) / static_cast<T>(c);
    const T inv = T(1) / std::sqrt(var + static_cast<T>(eps));
    for (int64_t k = 0; k < c; ++k) yr[k] = (xr[k] - mean) * inv * weight[k] + bias[k];
  }
}

}  // namespace jseg_layer_norm
#endif
