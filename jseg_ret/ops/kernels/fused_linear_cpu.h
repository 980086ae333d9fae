// Linear + bias (+ exact GELU or ReLU) on the CPU in one op (inference), and sums of maps
// (+ bias, + act) alone.
//
// y = act(x w^T + b): oneDNN's sgemm (the library Jittor's own matmul calls; its symbol is in
// the process once Jittor has loaded its oneDNN ops) on blocks of rows, each block's epilogue
// (bias, GELU) applied while the block is still in cache. Blocks go to the OpenMP threads, each
// running a single-threaded sgemm; with too few rows for that, one multi-threaded sgemm runs
// first and the epilogue follows it.
// GELU(x) = x/2 (1 + erf(x / sqrt 2)), erf by a clamped odd rational polynomial (|error| about
// 1e-7, as XLA's and Eigen's float erf) that the compiler vectorises.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_FUSED_LINEAR_CPU_H
#define JSEG_FUSED_LINEAR_CPU_H

#include <algorithm>
#include <cstdint>
#include <omp.h>
#include <vector>

extern "C" int dnnl_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K,
                          float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                          float beta, float* C, int64_t ldc);

namespace jseg_fused_linear {

typedef int64_t idx_t;

enum Act { NONE = 0, GELU = 1, RELU = 2 };

inline float erf_f(float a) {
  const float x = std::min(std::max(a, -4.0f), 4.0f);
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = x * p;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return p / q;
}

inline float gelu_f(float x) { return 0.5f * x * (1.0f + erf_f(x * 0.70710678118654752f)); }

// act(v) for the kernel's epilogue ACT
template <int ACT>
inline float activate(float v) {
  return ACT == GELU ? gelu_f(v) : ACT == RELU ? std::max(v, 0.0f) : v;
}

// rows [0, m) of y (row stride n) += b, then act
template <int ACT>
inline void epilogue(float* __restrict y, const float* __restrict b, idx_t m, idx_t n) {
  for (idx_t r = 0; r < m; ++r) {
    float* __restrict row = y + r * n;
    #pragma omp simd
    for (idx_t c = 0; c < n; ++c) row[c] = activate<ACT>(row[c] + b[c]);
  }
}

// Rows per block: the block's output (rows x n floats) about 256 KB (it stays in L2 for the
// epilogue), at least 256 rows (each block's sgemm packs all of w again).
inline idx_t block_rows(idx_t n) {
  return std::max<idx_t>(256, (65536 / std::max<idx_t>(n, 1)) & ~idx_t(7));
}

// x (m x k), w (n x k), b (n) -> y (m x n) = act(x w^T + b)
template <int ACT>
void linear(const float* x, const float* w, const float* b, float* y, idx_t m, idx_t n,
            idx_t k) {
  const idx_t mb = block_rows(n);
  const idx_t blocks = (m + mb - 1) / mb;
  const int threads = omp_get_max_threads();
  if (blocks < 2 * threads) {  // few rows: oneDNN parallelises the product itself
    dnnl_sgemm('N', 'T', m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
    #pragma omp parallel for schedule(static) if (m * n > 32768)
    for (idx_t t = 0; t < blocks; ++t) {
      const idx_t r0 = t * mb;
      epilogue<ACT>(y + r0 * n, b, std::min(mb, m - r0), n);
    }
    return;
  }
  #pragma omp parallel for schedule(static)
  for (idx_t t = 0; t < blocks; ++t) {
    const idx_t r0 = t * mb, rows = std::min(mb, m - r0);
    dnnl_sgemm('N', 'T', rows, n, k, 1.0f, x + r0 * k, k, w, k, 0.0f, y + r0 * n, n);
    epilogue<ACT>(y + r0 * n, b, rows, n);
  }
}

// Linear, act, Linear: y (m x o) = act(x w1^T + b1) w2^T + b2, x (m x c), w1 (f x c), w2 (o x f).
// Each thread takes blocks of rows and keeps their hidden activations (rows x f) in its own
// buffer, in cache, instead of writing the m x f map out and reading it back. With too few rows
// for two blocks a thread, the two products run one after the other, each multi-threaded.
template <int ACT>
void mlp(const float* x, const float* w1, const float* b1, const float* w2, const float* b2,
         float* y, idx_t m, idx_t c, idx_t f, idx_t o) {
  const idx_t mb = block_rows(f);
  const idx_t blocks = (m + mb - 1) / mb;
  if (blocks < 2 * omp_get_max_threads()) {
    std::vector<float> h(static_cast<size_t>(m * f));
    linear<ACT>(x, w1, b1, h.data(), m, f, c);
    linear<NONE>(h.data(), w2, b2, y, m, o, f);
    return;
  }
  #pragma omp parallel
  {
    std::vector<float> h(static_cast<size_t>(mb * f));
    #pragma omp for schedule(static)
    for (idx_t t = 0; t < blocks; ++t) {
      const idx_t r0 = t * mb, rows = std::min(mb, m - r0);
      dnnl_sgemm('N', 'T', rows, f, c, 1.0f, x + r0 * c, c, w1, c, 0.0f, h.data(), f);
      epilogue<ACT>(h.data(), b1, rows, f);
      dnnl_sgemm('N', 'T', rows, o, f, 1.0f, h.data(), f, w2, f, 0.0f, y + r0 * o, o);
      epilogue<NONE>(y + r0 * o, b2, rows, o);
    }
  }
}

// Channels-first output (a 1x1 conv to NCHW maps): y[i] (o x p) = act(w (o x c) x[i] + b[:, None])
// for i < batch, x[i] (c x p) NCHW: one multi-threaded sgemm per map, then the epilogue over its
// rows. When x_pixels_major, x[i] is (p x c) NHWC: blocks of pixels go to the threads, each
// block's (pixels x o) product computed in cache and written out transposed with the epilogue
// (SegRet-T's classifier: 9 ms, against 13 ms for the row-major product and a transpose).
template <int ACT>
void linear_cf(const float* x, const float* w, const float* b, float* y, idx_t batch, idx_t o,
               idx_t c, idx_t p, bool x_pixels_major = false) {
  if (x_pixels_major) {
    const idx_t pb = 256;  // pixels per block: the block's product (pb x o) stays in L2
    const idx_t blocks = (p + pb - 1) / pb;
    #pragma omp parallel
    {
      std::vector<float> t(static_cast<size_t>(pb * o));
      #pragma omp for schedule(static) collapse(2)
      for (idx_t i = 0; i < batch; ++i) {
        for (idx_t k = 0; k < blocks; ++k) {
          const idx_t p0 = k * pb, n = std::min(pb, p - p0);
          dnnl_sgemm('N', 'T', n, o, c, 1.0f, x + (i * p + p0) * c, c, w, c, 0.0f, t.data(), o);
          for (idx_t r = 0; r < o; ++r) {
            float* __restrict row = y + (i * o + r) * p + p0;
            const float br = b[r];
            for (idx_t q = 0; q < n; ++q) {
              row[q] = activate<ACT>(t[q * o + r] + br);
            }
          }
        }
      }
    }
    return;
  }
  for (idx_t i = 0; i < batch; ++i) {
    float* yi = y + i * o * p;
    dnnl_sgemm('N', 'N', o, p, c, 1.0f, w, c, x + i * c * p, p, 0.0f, yi, p);
    #pragma omp parallel for schedule(static) if (o * p > 32768)
    for (idx_t r = 0; r < o; ++r) {
      float* __restrict row = yi + r * p;
      const float br = b[r];
      #pragma omp simd
      for (idx_t k = 0; k < p; ++k) row[k] = activate<ACT>(row[k] + br);
    }
  }
}

// y (m x n) = act(x + a_1 + ... + a_nadd + b): nadd more maps shaped as x, b broadcast over rows
// (or null). Jittor's own element-wise kernels run on one thread on the CPU; this runs on all.
template <int ACT>
void sum_bias_act(const float* x, const float* const* adds, int nadd, const float* b, float* y,
                  idx_t m, idx_t n) {
  const idx_t mb = block_rows(n);
  const idx_t blocks = (m + mb - 1) / mb;
  #pragma omp parallel for schedule(static) if (m * n > 32768)
  for (idx_t t = 0; t < blocks; ++t) {
    const idx_t r0 = t * mb, rows = std::min(mb, m - r0);
    for (idx_t r = r0; r < r0 + rows; ++r) {
      const float* __restrict xr = x + r * n;
      float* __restrict yr = y + r * n;
      if (b) {
        #pragma omp simd
        for (idx_t c = 0; c < n; ++c) yr[c] = xr[c] + b[c];
      } else {
        #pragma omp simd
        for (idx_t c = 0; c < n; ++c) yr[c] = xr[c];
      }
      for (int i = 0; i < nadd; ++i) {
        const float* __restrict ar = adds[i] + r * n;
        #pragma omp simd
        for (idx_t c = 0; c < n; ++c) yr[c] += ar[c];
      }
      if (ACT != NONE) {
        #pragma omp simd
        for (idx_t c = 0; c < n; ++c) yr[c] = activate<ACT>(yr[c]);
      }
    }
  }
}

// y (m x n) = act(x + b), b broadcast over rows
template <int ACT>
void bias_act(const float* x, const float* b, float* y, idx_t m, idx_t n) {
  sum_bias_act<ACT>(x, nullptr, 0, b, y, m, n);
}

}  // namespace jseg_fused_linear
#endif
