// Separable bilinear resize of NCHW planes or channels-last maps on the CPU (C++ + OpenMP), forward and backward.
//
// Each output pixel (oh, ow) reads rows hi0/hi1 (weights 1-hl, hl) and columns wi0/wi1
// (weights 1-wl, wl); the taps are precomputed per axis with PyTorch's rule. Forward blends the
// two source rows once per output row, then samples along W (many NCHW planes: samples each
// source row along W once, then blends two of those per output row: forward_planes). Backward
// is its transpose: the gradient row is scattered along W, then added into the two source rows
// with the row weights.
// Planes are independent, so both directions parallelise over planes without atomics.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_BILINEAR_CPU_H
#define JSEG_BILINEAR_CPU_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace jseg_bilinear {

typedef int64_t idx_t;

// out[0:W] = a r0 + b r1 with non-temporal stores (float on AVX-512, out 64-byte aligned, W a
// multiple of 16); false where that does not apply and the caller writes the row itself.
template <typename T>
inline bool blend_rows_streamed(T*, const T*, const T*, T, T, int) { return false; }

#if defined(__AVX512F__)
template <>
inline bool blend_rows_streamed<float>(float* out, const float* r0, const float* r1, float a,
                                       float b, int W) {
  if ((reinterpret_cast<uintptr_t>(out) & 63) || (W & 15)) return false;
  const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  for (int ow = 0; ow < W; ow += 16)
    _mm512_stream_ps(out + ow, _mm512_fmadd_ps(va, _mm512_loadu_ps(r0 + ow),
                                               _mm512_mul_ps(vb, _mm512_loadu_ps(r1 + ow))));
  return true;
}
// streamed stores are weakly ordered: fence them before the plane counts as written
inline void stream_fence() { _mm_sfence(); }
#else
inline void stream_fence() {}
#endif

// x (planes, h, w, inner) -> y (planes, H, W, inner): inner = 1 for NCHW planes (planes = N*C),
// inner = C for channels-last maps (planes = N), where each tap moves a contiguous pixel.
// NCHW planes (inner = 1), enough of them to share among the threads: per plane, sample the h
// source rows along W first (h x W scratch, the only gathers), then every output row is a
// contiguous blend of two of them (vectorised). PyTorch's order of the taps:
// y = (1-b) ((1-q) x00 + q x01) + b ((1-q) x10 + q x11).
template <typename T>
void forward_planes(const T* x, const int* hi0, const int* hi1, const T* hl, const int* wi0,
                    const int* wi1, const T* wl, T* y, idx_t planes, int h, int w, int H,
                    int W) {
  // an output far larger than the caches (a full-size logit map: SegRet-T's 150 x 512 x 512 is
  // 157 MB) is written with streaming stores, which skip reading each line in before writing it
  const bool stream = planes * H * W * static_cast<idx_t>(sizeof(T)) > (idx_t(64) << 20);
  #pragma omp parallel if (planes * H * W > 32768)
  {
    std::vector<T> cols(static_cast<idx_t>(h) * W);
    #pragma omp for schedule(static)
    for (idx_t p = 0; p < planes; ++p) {
      const T* xp = x + p * h * w;
      for (int r = 0; r < h; ++r) {
        const T* src = xp + static_cast<idx_t>(r) * w;
        T* c = cols.data() + static_cast<idx_t>(r) * W;
        for (int ow = 0; ow < W; ++ow) {
          const T q = wl[ow];
          c[ow] = (T(1) - q) * src[wi0[ow]] + q * src[wi1[ow]];
        }
      }
      for (int oh = 0; oh < H; ++oh) {
        const T* __restrict r0 = cols.data() + static_cast<idx_t>(hi0[oh]) * W;
        const T* __restrict r1 = cols.data() + static_cast<idx_t>(hi1[oh]) * W;
        T* __restrict out = y + (p * H + oh) * static_cast<idx_t>(W);
        const T b = hl[oh], a = T(1) - b;
        if (stream && blend_rows_streamed(out, r0, r1, a, b, W)) continue;
        #pragma omp simd
        for (int ow = 0; ow < W; ++ow) out[ow] = a * r0[ow] + b * r1[ow];
      }
      if (stream) stream_fence();
    }
  }
}

template <typename T>
void forward(const T* x, const int* hi0, const int* hi1, const T* hl, const int* wi0,
             const int* wi1, const T* wl, T* y, idx_t planes, int h, int w, int H, int W,
             int inner) {
  if (inner == 1 && planes >= 8) {
    forward_planes(x, hi0, hi1, hl, wi0, wi1, wl, y, planes, h, w, H, W);
    return;
  }
  const idx_t rows = planes * H, rw = static_cast<idx_t>(w) * inner;
  #pragma omp parallel if (rows * W * inner > 32768)
  {
    std::vector<T> row(rw);
    #pragma omp for schedule(static)
    for (idx_t t = 0; t < rows; ++t) {
      const idx_t p = t / H;
      const int oh = static_cast<int>(t % H);
      const T* r0 = x + (p * h + hi0[oh]) * rw;
      const T* r1 = x + (p * h + hi1[oh]) * rw;
      const T b = hl[oh], a = T(1) - b;
      for (idx_t j = 0; j < rw; ++j) row[j] = a * r0[j] + b * r1[j];
      T* out = y + t * static_cast<idx_t>(W) * inner;
      if (inner == 1) {
        for (int ow = 0; ow < W; ++ow) {
          const T q = wl[ow];
          out[ow] = (T(1) - q) * row[wi0[ow]] + q * row[wi1[ow]];
        }
      } else {
        for (int ow = 0; ow < W; ++ow) {
          const T q = wl[ow], pq = T(1) - q;
          const T* s0 = row.data() + static_cast<idx_t>(wi0[ow]) * inner;
          const T* s1 = row.data() + static_cast<idx_t>(wi1[ow]) * inner;
          T* o = out + static_cast<idx_t>(ow) * inner;
          for (int k = 0; k < inner; ++k) o[k] = pq * s0[k] + q * s1[k];
        }
      }
    }
  }
}

// The transpose of forward (same planes/inner convention): the gradient with respect to x.
template <typename T>
void backward(const T* dy, const int* hi0, const int* hi1, const T* hl, const int* wi0,
              const int* wi1, const T* wl, T* dx, idx_t planes, int h, int w, int H, int W,
              int inner) {
  const idx_t rw = static_cast<idx_t>(w) * inner, RW = static_cast<idx_t>(W) * inner;
  #pragma omp parallel if (planes * H * RW > 32768)
  {
    std::vector<T> row(rw);
    #pragma omp for schedule(static)
    for (idx_t p = 0; p < planes; ++p) {
      T* g = dx + p * h * rw;
      std::memset(g, 0, sizeof(T) * h * rw);
      for (int oh = 0; oh < H; ++oh) {
        const T* d = dy + (p * H + oh) * RW;
        std::fill(row.begin(), row.end(), T(0));
        for (int ow = 0; ow < W; ++ow) {
          const T q = wl[ow], pq = T(1) - q;
          T* s0 = row.data() + static_cast<idx_t>(wi0[ow]) * inner;
          T* s1 = row.data() + static_cast<idx_t>(wi1[ow]) * inner;
          const T* dd = d + static_cast<idx_t>(ow) * inner;
          for (int k = 0; k < inner; ++k) {
            s0[k] += pq * dd[k];
            s1[k] += q * dd[k];
          }
        }
        const T b = hl[oh], a = T(1) - b;
        T* g0 = g + static_cast<idx_t>(hi0[oh]) * rw;
        T* g1 = g + static_cast<idx_t>(hi1[oh]) * rw;
        for (idx_t j = 0; j < rw; ++j) g0[j] += a * row[j];
        for (idx_t j = 0; j < rw; ++j) g1[j] += b * row[j];
      }
    }
  }
}

// y (N, H, W, C) = act(shift + sum_i resize(x_i)) for K channels-last maps x_i (N, h_i, w_i, C)
// with their own taps (shift over C, or null; act: ReLU when relu): the resized maps are never
// written out. One output row (n, oh) at a time: each map's two source rows blended once, then
// sampled along W into the row; a map already of the output's size is added as it is.
inline void resize_sum_nhwc(const float* const* xs, const int* const* hi0s,
                            const int* const* hi1s, const float* const* hls,
                            const int* const* wi0s, const int* const* wi1s,
                            const float* const* wls, const int* hs, const int* ws, int K,
                            const float* shift, bool relu, float* y, idx_t N, int H, int W,
                            idx_t C) {
  int wmax = 1;
  for (int i = 0; i < K; ++i) wmax = std::max(wmax, ws[i]);
  #pragma omp parallel if (N * H * W * C > 32768)
  {
    std::vector<float> tmp(static_cast<size_t>(wmax * C));
    #pragma omp for schedule(static)
    for (idx_t t = 0; t < N * H; ++t) {
      const idx_t n = t / H;
      const int oh = static_cast<int>(t % H);
      float* __restrict out = y + t * W * C;
      for (int ow = 0; ow < W; ++ow) {
        float* __restrict o = out + ow * C;
        if (shift) {
          #pragma omp simd
          for (idx_t c = 0; c < C; ++c) o[c] = shift[c];
        } else {
          std::fill(o, o + C, 0.0f);
        }
      }
      for (int i = 0; i < K; ++i) {
        const int h = hs[i], w = ws[i];
        const idx_t rw = static_cast<idx_t>(w) * C;
        if (h == H && w == W) {
          const float* __restrict src = xs[i] + t * rw;
          #pragma omp simd
          for (idx_t j = 0; j < rw; ++j) out[j] += src[j];
          continue;
        }
        const float* r0 = xs[i] + (n * h + hi0s[i][oh]) * rw;
        const float* r1 = xs[i] + (n * h + hi1s[i][oh]) * rw;
        const float b = hls[i][oh], a = 1.0f - b;
        float* __restrict row = tmp.data();
        #pragma omp simd
        for (idx_t j = 0; j < rw; ++j) row[j] = a * r0[j] + b * r1[j];
        for (int ow = 0; ow < W; ++ow) {
          const float q = wls[i][ow], pq = 1.0f - q;
          const float* __restrict s0 = row + static_cast<idx_t>(wi0s[i][ow]) * C;
          const float* __restrict s1 = row + static_cast<idx_t>(wi1s[i][ow]) * C;
          float* __restrict o = out + ow * C;
          #pragma omp simd
          for (idx_t c = 0; c < C; ++c) o[c] += pq * s0[c] + q * s1[c];
        }
      }
      if (relu) {
        #pragma omp simd
        for (idx_t j = 0; j < W * C; ++j) out[j] = std::max(out[j], 0.0f);
      }
    }
  }
}

}  // namespace jseg_bilinear
#endif
