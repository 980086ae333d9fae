// LayerNorm over the last axis on the CPU (C++ + OpenMP), inference: per row one pass for the
// mean, one for the variance, one to normalize (two-pass variance, as PyTorch; Jittor's
// nn.LayerNorm uses E[x^2] - E[x]^2 across several kernels). Needs lane_sum_cpu.h before it.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_LAYER_NORM_CPU_H
#define JSEG_LAYER_NORM_CPU_H

#include <cmath>
#include <cstdint>

namespace jseg_layer_norm {

using jseg_reduce::lane_sum;  // lane_sum_cpu.h, prepended by kernel_source

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
