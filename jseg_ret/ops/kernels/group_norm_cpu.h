// GroupNorm (+ ReLU) over NCHW maps on the CPU (C++ + OpenMP), inference: per (sample, group)
// one pass for the mean, one for the variance (two-pass, as PyTorch), one to normalize with
// the per-channel affine map (and the ReLU). Jittor's nn.GroupNorm is several reduce and
// element-wise kernels. Needs lane_sum_cpu.h before it.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_GROUP_NORM_CPU_H
#define JSEG_GROUP_NORM_CPU_H

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace jseg_group_norm {

typedef int64_t idx_t;

using jseg_reduce::lane_sum;  // lane_sum_cpu.h, prepended by kernel_source

// x, y (n, c, p) with p = H*W; gamma, beta (c); g groups of c/g channels.
template <bool RELU>
void forward(const float* x, const float* gamma, const float* beta, float* y, idx_t n, idx_t c,
             idx_t p, idx_t g, float eps) {
  const idx_t cg = c / g, len = cg * p;
  #pragma omp parallel for schedule(static) if (n * c * p > 32768)
  for (idx_t t = 0; t < n * g; ++t) {
    const float* xs = x + t * len;
    float* ys = y + t * len;
    const double mean = lane_sum<double>(len, [&](idx_t k) { return static_cast<double>(xs[k]); }) / len;
    const float mf = static_cast<float>(mean);
    const double var = lane_sum<double>(len, [&](idx_t k) {
      const double d = static_cast<double>(xs[k] - mf);
      return d * d;
    }) / len;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const idx_t c0 = (t % g) * cg;
    for (idx_t j = 0; j < cg; ++j) {
      const float s = inv * gamma[c0 + j], b = beta[c0 + j] - mf * s;
      const float* __restrict xr = xs + j * p;
      float* __restrict yr = ys + j * p;
      if (RELU) {
        #pragma omp simd
        for (idx_t k = 0; k < p; ++k) yr[k] = std::max(xr[k] * s + b, 0.0f);
      } else {
        #pragma omp simd
        for (idx_t k = 0; k < p; ++k) yr[k] = xr[k] * s + b;
      }
    }
  }
}

}  // namespace jseg_group_norm
#endif
