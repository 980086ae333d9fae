// Softmax cross-entropy over axis 1 of (N, C, P) logits (P = pixels), CPU (C++ + OpenMP).
//
// As Jittor ops the loss is a max, an exp-sum, a gather and their backward passes, each a sweep
// over the C values of every pixel at a stride of P. Here each thread takes a block of pixels
// and sweeps the channels over it (contiguous loads): forward nll[p] = -((x_y - m) - log s)
// with m = max_c x, s = sum_c exp(x_c - m) (the formula's rounding), times w[y]; 0 where the
// label is ignored. The backward pass recomputes m and s: dx = g w[y] (exp(x - m) / s - [c = y]).
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_CROSS_ENTROPY_CPU_H
#define JSEG_CROSS_ENTROPY_CPU_H

#include <cmath>
#include <cstdint>

namespace jseg_ce {

typedef int64_t idx_t;
const idx_t kBlock = 512;

template <typename T>
static void block_stats(const T* x0, idx_t C, idx_t P, idx_t len, T* m, T* s) {
  for (idx_t p = 0; p < len; ++p) { m[p] = x0[p]; s[p] = T(0); }
  for (idx_t c = 1; c < C; ++c) {
    const T* xc = x0 + c * P;
    for (idx_t p = 0; p < len; ++p) m[p] = xc[p] > m[p] ? xc[p] : m[p];
  }
  for (idx_t c = 0; c < C; ++c) {
    const T* xc = x0 + c * P;
    for (idx_t p = 0; p < len; ++p) s[p] += std::exp(xc[p] - m[p]);
  }
}

template <typename T>
void forward(const T* x, const int* label, const T* w, T* nll, idx_t N, idx_t C, idx_t P,
             int ignore_index) {
  const idx_t bpi = (P + kBlock - 1) / kBlock;
  #pragma omp parallel for schedule(static)
  for (idx_t b = 0; b < N * bpi; ++b) {
    const idx_t n = b / bpi, p0 = (b % bpi) * kBlock;
    const idx_t len = (P - p0 < kBlock) ? (P - p0) : kBlock;
    T m[kBlock], s[kBlock];
    const T* x0 = x + n * C * P + p0;
    block_stats(x0, C, P, len, m, s);
    const int* y = label + n * P + p0;
    T* out = nll + n * P + p0;
    for (idx_t p = 0; p < len; ++p) {
      const int c = y[p];
      if (c == ignore_index) { out[p] = T(0); continue; }
      if (c < 0 || c >= C) { out[p] = NAN; continue; }  // a bad label shows in the loss
      const T logp = (x0[c * P + p] - m[p]) - std::log(s[p]);
      out[p] = -logp * w[c];
    }
  }
}

template <typename T>
void backward(const T* x, const int* label, const T* w, const T* g, T* dx, idx_t N, idx_t C,
              idx_t P, int ignore_index) {
  const idx_t bpi = (P + kBlock - 1) / kBlock;
  #pragma omp parallel for schedule(static)
  for (idx_t b = 0; b < N * bpi; ++b) {
    const idx_t n = b / bpi, p0 = (b % bpi) * kBlock;
    const idx_t len = (P - p0 < kBlock) ? (P - p0) : kBlock;
    T m[kBlock], s[kBlock], scale[kBlock];
    const T* x0 = x + n * C * P + p0;
    T* d0 = dx + n * C * P + p0;
    block_stats(x0, C, P, len, m, s);
    const int* y = label + n * P + p0;
    const T* g0 = g + n * P + p0;
    for (idx_t p = 0; p < len; ++p)
      scale[p] = (y[p] == ignore_index || y[p] < 0 || y[p] >= C) ? T(0) : g0[p] * w[y[p]];
    for (idx_t p = 0; p < len; ++p) s[p] = scale[p] / s[p];
    for (idx_t c = 0; c < C; ++c) {
      const T* xc = x0 + c * P;
      T* dc = d0 + c * P;
      for (idx_t p = 0; p < len; ++p) dc[p] = std::exp(xc[p] - m[p]) * s[p];
    }
    for (idx_t p = 0; p < len; ++p)
      if (scale[p] != T(0)) d0[y[p] * P + p] -= scale[p];
  }
}

}  // namespace jseg_ce
#endif
