// Weight gradient of a depthwise convolution on channels-last (NHWC) maps, CPU (C++ + OpenMP).
//
// dW[c, 0, i, j] = sum over n, oh, ow of x[n, oh*sh - ph + i*dh, ow*sw - pw + j*dw, c]
//                                       * dy[n, oh, ow, c]
// oneDNN's depthwise backward-weights primitive took about half of a SegNeXt-T training step on
// the 2-core CPU machine; this is a direct loop, vectorized over the contiguous channels, rows
// of dy split over threads, each with its own (taps x C) accumulator, summed at the end.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_DWCONV_CPU_H
#define JSEG_DWCONV_CPU_H

#include <cstdint>
#include <cstring>
#include <vector>

namespace jseg_dwconv {

typedef int64_t idx_t;

template <typename T>
void weight_grad(const T* x, const T* dy, T* dw, int N, int H, int W, int C, int OH, int OW,
                 int KH, int KW, int sh, int sw, int ph, int pw, int dh, int dwl) {
  const int taps = KH * KW;
  std::memset(dw, 0, sizeof(T) * static_cast<idx_t>(taps) * C);
  #pragma omp parallel
  {
    std::vector<T> acc(static_cast<idx_t>(taps) * C, T(0));
    #pragma omp for schedule(static)
    for (idx_t r = 0; r < static_cast<idx_t>(N) * OH; ++r) {
      const idx_t n = r / OH;
      const int oh = static_cast<int>(r % OH);
      const T* g = dy + r * OW * C;
      for (int i = 0; i < KH; ++i) {
        const int ih = oh * sh - ph + i * dh;
        if (ih < 0 || ih >= H) continue;
        const T* xr = x + (n * H + ih) * static_cast<idx_t>(W) * C;
        for (int j = 0; j < KW; ++j) {
          T* a = acc.data() + static_cast<idx_t>(i * KW + j) * C;
          for (int ow = 0; ow < OW; ++ow) {
            const int iw = ow * sw - pw + j * dwl;
            if (iw < 0 || iw >= W) continue;
            const T* xp = xr + static_cast<idx_t>(iw) * C;
            const T* gp = g + static_cast<idx_t>(ow) * C;
            for (int c = 0; c < C; ++c) a[c] += xp[c] * gp[c];
          }
        }
      }
    }
    #pragma omp critical
    {
      for (int t = 0; t < taps; ++t)
        for (int c = 0; c < C; ++c) dw[static_cast<idx_t>(c) * taps + t] += acc[static_cast<idx_t>(t) * C + c];
    }
  }
}

}  // namespace jseg_dwconv
#endif
