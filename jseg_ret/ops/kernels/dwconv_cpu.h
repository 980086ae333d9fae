// Weight gradient of a depthwise convolution on channels-last (NHWC) maps, CPU (C++ + OpenMP).
//
// dW[c, 0, i, j] = sum over n, oh, ow of x[n, oh*sh - ph + i*dh, ow*sw - pw + j*dw, c]
//                                       * dy[n, oh, ow, c]
// oneDNN's depthwise backward-weights primitive was the largest item of a channels-last CPU
// training step (docs/performance.md); this is a direct loop, vectorized over the contiguous
// channels, rows of dy split over threads, each with its own (taps x C) accumulator, summed at
// the end.
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


// dx of a depthwise convolution (the same taps, gathered per input row): rows of dx split over
// threads, each row a sum over the taps that reach it, vectorized over the contiguous channels.
template <typename T>
void data_grad(const T* dy, const T* w, T* dx, int N, int H, int W, int C, int OH, int OW,
               int KH, int KW, int sh, int sw, int ph, int pw, int dh, int dwl) {
  const int taps = KH * KW;
  std::vector<T> wt(static_cast<idx_t>(taps) * C);  // (taps, C): contiguous over channels
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < taps; ++t)
      wt[static_cast<idx_t>(t) * C + c] = w[static_cast<idx_t>(c) * taps + t];
  #pragma omp parallel for schedule(static)
  for (idx_t r = 0; r < static_cast<idx_t>(N) * H; ++r) {
    const idx_t n = r / H;
    const int ih = static_cast<int>(r % H);
    T* out = dx + r * W * C;
    std::memset(out, 0, sizeof(T) * static_cast<idx_t>(W) * C);
    for (int i = 0; i < KH; ++i) {
      const int t = ih + ph - i * dh;
      if (t < 0 || t % sh) continue;
      const int oh = t / sh;
      if (oh >= OH) continue;
      const T* g = dy + (n * OH + oh) * static_cast<idx_t>(OW) * C;
      for (int j = 0; j < KW; ++j) {
        const T* wj = wt.data() + static_cast<idx_t>(i * KW + j) * C;
        for (int iw = 0; iw < W; ++iw) {
          const int u = iw + pw - j * dwl;
          if (u < 0 || u % sw) continue;
          const int ow = u / sw;
          if (ow >= OW) continue;
          const T* gp = g + static_cast<idx_t>(ow) * C;
          T* op = out + static_cast<idx_t>(iw) * C;
          for (int c = 0; c < C; ++c) op[c] += gp[c] * wj[c];
        }
      }
    }
  }
}

// Forward of a depthwise convolution on NHWC maps (no bias), the same loop structure.
template <typename T>
void forward(const T* x, const T* w, T* y, int N, int H, int W, int C, int OH, int OW,
             int KH, int KW, int sh, int sw, int ph, int pw, int dh, int dwl) {
  const int taps = KH * KW;
  std::vector<T> wt(static_cast<idx_t>(taps) * C);
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < taps; ++t)
      wt[static_cast<idx_t>(t) * C + c] = w[static_cast<idx_t>(c) * taps + t];
  #pragma omp parallel for schedule(static)
  for (idx_t r = 0; r < static_cast<idx_t>(N) * OH; ++r) {
    const idx_t n = r / OH;
    const int oh = static_cast<int>(r % OH);
    T* out = y + r * OW * C;
    std::memset(out, 0, sizeof(T) * static_cast<idx_t>(OW) * C);
    for (int i = 0; i < KH; ++i) {
      const int ih = oh * sh - ph + i * dh;
      if (ih < 0 || ih >= H) continue;
      const T* xr = x + (n * H + ih) * static_cast<idx_t>(W) * C;
      for (int j = 0; j < KW; ++j) {
        const T* wj = wt.data() + static_cast<idx_t>(i * KW + j) * C;
        for (int ow = 0; ow < OW; ++ow) {
          const int iw = ow * sw - pw + j * dwl;
          if (iw < 0 || iw >= W) continue;
          const T* xp = xr + static_cast<idx_t>(iw) * C;
          T* op = out + static_cast<idx_t>(ow) * C;
          for (int c = 0; c < C; ++c) op[c] += xp[c] * wj[c];
        }
      }
    }
  }
}

}  // namespace jseg_dwconv
#endif
