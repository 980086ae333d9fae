// Index of the largest value along axis 1 of an (N, C, P) array (P = pixels), CPU (C++ + OpenMP).
//
// Jittor's arg_reduce over the channel axis of NCHW logits walks each pixel's C values at stride
// P, one pixel at a time (slow for the training accuracy; see docs/performance.md). Here each
// thread takes a block of pixels and sweeps the channels over it, keeping a running maximum and
// index per pixel: contiguous loads, vectorizable. The first largest index wins, as in
// arg_reduce.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_ARGMAX_CPU_H
#define JSEG_ARGMAX_CPU_H

#include <cstdint>

namespace jseg_argmax {

typedef int64_t idx_t;

template <typename T, typename I>
void channel_argmax(const T* x, I* out, idx_t N, idx_t C, idx_t P) {
  const idx_t block = 1024;
  const idx_t blocks_per_image = (P + block - 1) / block;
  #pragma omp parallel for schedule(static)
  for (idx_t b = 0; b < N * blocks_per_image; ++b) {
    const idx_t n = b / blocks_per_image;
    const idx_t p0 = (b % blocks_per_image) * block;
    const idx_t len = (P - p0 < block) ? (P - p0) : block;
    T best[1024];
    I* idx = out + n * P + p0;
    const T* x0 = x + n * C * P + p0;
    for (idx_t p = 0; p < len; ++p) { best[p] = x0[p]; idx[p] = 0; }
    for (idx_t c = 1; c < C; ++c) {
      const T* xc = x0 + c * P;
      for (idx_t p = 0; p < len; ++p) {
        const bool larger = xc[p] > best[p];
        best[p] = larger ? xc[p] : best[p];
        idx[p] = larger ? static_cast<I>(c) : idx[p];
      }
    }
  }
}

}  // namespace jseg_argmax
#endif
