// Fused Manhattan-decay retention, CPU (C++14 + OpenMP).
//
//   O_i = sum_j softmax_j(q_i . k_j + lambda_n (|h_i-h_j| + |w_i-w_j|)) v_j,  token t = h*W + w.
//
// Streaming (FlashAttention-style): never builds an L x L tensor. All tiles keep the *vector* axis
// (NB tokens, contiguous) last, so every inner loop is a fixed-width FMA over NB lanes:
//   forward / dQ : vector over a block of NB queries, streaming over key rows
//                  (the row max / sum of the softmax are then element-wise vector ops);
//   dK, dV       : vector over a block of NB keys, streaming over query rows.
// Backward recomputes probabilities from q, k and the log-sum-exp; D_i = rowsum(dO_i * O_i).
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_RETENTION_CPU_H
#define JSEG_RETENTION_CPU_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace jseg_retention {

#if defined(__AVX512F__)
constexpr int NB = 64;  // 4 zmm per row: MR x NB/16 = 16 accumulators in the micro-kernel
#else
constexpr int NB = 32;  // 4 ymm per row on AVX2
#endif
constexpr int TR = 64;  // streamed rows per tile (keys in forward/dQ, queries in dK/dV)
constexpr int MR = 4;   // rows per micro-kernel step

typedef int64_t idx_t;

// exp(x) for float, Cephes polynomial (~1 ulp) written without library calls so the compiler
// vectorises it; exactly 0 below -87.3 (masked / far-away keys).
inline float exp_t(float x) {
  const float xc = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x < -87.0f ? 0.0f : p * scale;
}
inline double exp_t(double x) { return std::exp(x); }  // float64: reference precision (tests)

// Initial running max: finite (the kernels are built with -Ofast, which assumes no infinities).
template <typename T> inline T lowest() { return static_cast<T>(-1e30); }

// C[r][0:NB] (+)= sum_k A[r*ars + k*aks] * B[k][0:NB], r < ROWS. B, C have row stride NB.
template <typename T, int ROWS, bool ACC>
inline void micro(T* __restrict C, const T* __restrict A, idx_t ars, idx_t aks,
                  const T* __restrict B, int K) {
  T acc[ROWS][NB];
  for (int r = 0; r < ROWS; ++r)
    for (int u = 0; u < NB; ++u) acc[r][u] = ACC ? C[r * NB + u] : T(0);
  for (int k = 0; k < K; ++k) {
    const T* __restrict b = B + static_cast<idx_t>(k) * NB;
    for (int r = 0; r < ROWS; ++r) {
      const T a = A[r * ars + k * aks];
      for (int u = 0; u < NB; ++u) acc[r][u] += a * b[u];
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int u = 0; u < NB; ++u) C[r * NB + u] = acc[r][u];
}

#if defined(__AVX512F__)
// float on AVX-512: the same sums (k in order, one FMA each) with the row of B held in four
// registers and ROWS x 4 accumulators. Written out because the compiler re-loads B from memory
// for every row of A; MR = 5 rows keep 20 + 4 + 1 of the 32 registers busy.
template <int ROWS, bool ACC>
inline void micro_f32(float* __restrict C, const float* __restrict A, idx_t ars, idx_t aks,
                      const float* __restrict B, int K) {
  __m512 acc[ROWS][4];
  for (int r = 0; r < ROWS; ++r)
    for (int i = 0; i < 4; ++i)
      acc[r][i] = ACC ? _mm512_loadu_ps(C + r * NB + 16 * i) : _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const float* b = B + static_cast<idx_t>(k) * NB;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    const __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
    for (int r = 0; r < ROWS; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * ars + k * aks]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int i = 0; i < 4; ++i) _mm512_storeu_ps(C + r * NB + 16 * i, acc[r][i]);
}
#endif

// C (M x NB) (+)= A (M x K, strides ars/aks) * B (K x NB).
template <typename T, bool ACC>
struct Gemm {
  static void run(T* C, int M, const T* A, idx_t ars, idx_t aks, const T* B, int K) {
    int r = 0;
    for (; r + MR <= M; r += MR) micro<T, MR, ACC>(C + r * NB, A + r * ars, ars, aks, B, K);
    for (; r < M; ++r) micro<T, 1, ACC>(C + r * NB, A + r * ars, ars, aks, B, K);
  }
};

#if defined(__AVX512F__)
template <bool ACC>
struct Gemm<float, ACC> {
  static void run(float* C, int M, const float* A, idx_t ars, idx_t aks, const float* B, int K) {
    int r = 0;
    for (; r + 5 <= M; r += 5) micro_f32<5, ACC>(C + r * NB, A + r * ars, ars, aks, B, K);
    for (; r + 2 <= M; r += 2) micro_f32<2, ACC>(C + r * NB, A + r * ars, ars, aks, B, K);
    for (; r < M; ++r) micro_f32<1, ACC>(C + r * NB, A + r * ars, ars, aks, B, K);
  }
};
#endif

template <typename T, bool ACC>
inline void gemm(T* C, int M, const T* A, idx_t ars, idx_t aks, const T* B, int K) {
  Gemm<T, ACC>::run(C, M, A, ars, aks, B, K);
}

// Grid coordinates of tokens [t0, t0+NB) (beyond L: harmless values, results are discarded).
template <typename T>
inline void coords(T* hv, T* wv, int t0, int W) {
  for (int u = 0; u < NB; ++u) {
    hv[u] = static_cast<T>((t0 + u) / W);
    wv[u] = static_cast<T>((t0 + u) % W);
  }
}

// row[u] += lam * (|hv[u] - h| + |wv[u] - w|)
template <typename T>
inline void add_bias(T* __restrict row, T lam, const T* __restrict hv, const T* __restrict wv,
                     T h, T w) {
  for (int u = 0; u < NB; ++u) row[u] += lam * (std::abs(hv[u] - h) + std::abs(wv[u] - w));
}

// 64-byte aligned per-thread scratch.
template <typename T>
struct Scratch {
  std::vector<T> buf;
  T* base;
  T* next;
  explicit Scratch(idx_t n) : buf(n + 64) {
    base = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
    next = base;
  }
  T* take(idx_t n) {  // n rounded up to whole cache lines
    T* p = next;
    next += (n + 15) & ~idx_t(15);
    return p;
  }
};

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Where (sequence bn, token t, channel c) of q, k, v or o lies: with g = bn / N (the sequence
// without its head) and head = bn % N, at g / P * outer + g % P * inner + head * head_stride
// + t * tok + c. Contiguous (BN, L, dim): P = 1, outer = N * L * dim, head_stride = L * dim,
// tok = dim. Inference reads q, k, v straight from the (B, H, W, 3C) q|k|v product and writes
// o into a (B, H, W, C) map this way (no layout copies; see ops/retention_qkv.py).
struct Layout {
  idx_t outer, inner, head, tok;
};

inline Layout contiguous(int N, int L, int dim) {
  return Layout{static_cast<idx_t>(N) * L * dim, 0, static_cast<idx_t>(L) * dim, dim};
}

inline idx_t seq_base(const Layout& l, int bn, int N, int P) {
  const int g = bn / N;
  return (g / P) * l.outer + (g % P) * l.inner + (bn % N) * l.head;
}

// Loads rows [t0, t0+n) (row stride rs) of a (L x dim) matrix transposed into dst (dim x NB),
// zero-padded. Token-major: each source row is read once, contiguously.
template <typename T>
inline void load_t_strided(T* __restrict dst, const T* __restrict src, idx_t rs, int t0, int n,
                           int dim) {
  for (int u = 0; u < n; ++u) {
    const T* __restrict row = src + static_cast<idx_t>(t0 + u) * rs;
    for (int c = 0; c < dim; ++c) dst[static_cast<idx_t>(c) * NB + u] = row[c];
  }
  if (n < NB)
    for (int c = 0; c < dim; ++c)
      for (int u = n; u < NB; ++u) dst[static_cast<idx_t>(c) * NB + u] = T(0);
}

// Asks for rows [t0, t0+n) (row stride rs, dim values each) ahead of use: the rows of one
// head are a few cache lines each, far apart (one token's q|k|v), so the hardware prefetcher
// does not see them coming and every row would otherwise be a separate miss.
template <typename T>
inline void prefetch_rows(const T* src, idx_t rs, int t0, int n, int dim, bool write = false) {
  constexpr int per_line = 64 / static_cast<int>(sizeof(T));
  for (int u = 0; u < n; ++u) {
    const T* row = src + static_cast<idx_t>(t0 + u) * rs;
    for (int c = 0; c < dim; c += per_line) {
      if (write) __builtin_prefetch(row + c, 1, 3);
      else __builtin_prefetch(row + c, 0, 3);
    }
  }
}

// One tile of the streaming softmax (forward): the decay bias is added to the nk x NB logits in
// St, the running max m and sum l are updated (alpha = the factor that rescales what was
// accumulated before) and St becomes exp(logits - m). Keys j0 .. j0+nk-1; W >= L means one
// line of tokens (the decomposed passes), where the row distance is always 0.
template <typename T>
inline void softmax_tile(T* St, int nk, int j0, int W, int L, T lam, const T* qh, const T* qw,
                         T* m, T* l, T* alpha) {
  T mt[NB];
  for (int u = 0; u < NB; ++u) mt[u] = m[u];
  for (int r = 0; r < nk; ++r) {
    T* row = St + static_cast<idx_t>(r) * NB;
    const int j = j0 + r;
    add_bias(row, lam, qh, qw, static_cast<T>(j / W), static_cast<T>(j % W));
    for (int u = 0; u < NB; ++u) mt[u] = std::max(mt[u], row[u]);
  }
  for (int u = 0; u < NB; ++u) {
    alpha[u] = exp_t(m[u] - mt[u]);
    m[u] = mt[u];
    l[u] *= alpha[u];
  }
  for (int r = 0; r < nk; ++r) {
    T* row = St + static_cast<idx_t>(r) * NB;
    for (int u = 0; u < NB; ++u) {
      row[u] = exp_t(row[u] - m[u]);
      l[u] += row[u];
    }
  }
}

// St (nk x NB) = K rows [j0, j0+nk) (row stride ks) times Qt, then the softmax tile.
template <typename T>
inline void logits_softmax_tile(T* St, int nk, const T* K, idx_t ks, const T* Qt, int d, int j0,
                                int W, int L, T lam, const T* qh, const T* qw, T* m, T* l,
                                T* alpha) {
  gemm<T, false>(St, nk, K, ks, 1, Qt, d);  // St = K Q^T
  softmax_tile(St, nk, j0, W, L, lam, qh, qw, m, l, alpha);
}

#if defined(__AVX512F__)
// exp(x) for finite x <= 0 (every argument of the forward softmax): 2^n * 2^f with
// n = round(x log2 e), f in [-1/2, 1/2], Cephes' exp2f polynomial and vscalefps, which gives 0
// far below (also for the first tile's exp(-1e30 - m)) without a clamp.
inline __m512 exp_nonpos(__m512 x) {
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// The tile's exp pass (float, AVX-512), after the running max moved from mo to mt: alpha =
// exp(mo - mt) rescales what was accumulated, St becomes exp(St - mt), l = l alpha + its sums.
inline void exp_tile_f32(float* St, int nk, const __m512* mo, const __m512* mt, float* m,
                         float* l, float* alpha) {
  __m512 ls[4];
  for (int i = 0; i < 4; ++i) {
    const __m512 a = exp_nonpos(_mm512_sub_ps(mo[i], mt[i]));
    _mm512_storeu_ps(alpha + 16 * i, a);
    _mm512_storeu_ps(m + 16 * i, mt[i]);
    ls[i] = _mm512_mul_ps(_mm512_loadu_ps(l + 16 * i), a);
  }
  for (int r = 0; r < nk; ++r) {
    float* row = St + static_cast<idx_t>(r) * NB;
    for (int i = 0; i < 4; ++i) {
      const __m512 p = exp_nonpos(_mm512_sub_ps(_mm512_loadu_ps(row + 16 * i), mt[i]));
      _mm512_storeu_ps(row + 16 * i, p);
      ls[i] = _mm512_add_ps(ls[i], p);
    }
  }
  for (int i = 0; i < 4; ++i) _mm512_storeu_ps(l + 16 * i, ls[i]);
}

// float on AVX-512: the products of ROWS keys with the query block, and in the same pass (the
// accumulators still in registers) the decay bias added and the running max taken: the logits
// are written once and not read back before the exp pass.
template <int ROWS>
inline void micro_logits_f32(float* __restrict C, const float* __restrict A, idx_t ars,
                             const float* __restrict B, int K, int jh, int jw, int W,
                             bool one_line, const __m512* vh, const __m512* vw, __m512 vlam,
                             __m512* mt) {
  __m512 acc[ROWS][4];
  for (int r = 0; r < ROWS; ++r)
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const float* b = B + static_cast<idx_t>(k) * NB;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    const __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
    for (int r = 0; r < ROWS; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * ars + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    const __m512 kw = _mm512_set1_ps(static_cast<float>(jw));
    const __m512 kh = _mm512_set1_ps(static_cast<float>(jh));
    for (int i = 0; i < 4; ++i) {
      __m512 dist = _mm512_abs_ps(_mm512_sub_ps(vw[i], kw));
      if (!one_line) dist = _mm512_add_ps(dist, _mm512_abs_ps(_mm512_sub_ps(vh[i], kh)));
      const __m512 x = _mm512_fmadd_ps(vlam, dist, acc[r][i]);
      _mm512_storeu_ps(C + r * NB + 16 * i, x);
      mt[i] = _mm512_max_ps(mt[i], x);
    }
    if (++jw == W) { jw = 0; ++jh; }
  }
}

template <>
inline void logits_softmax_tile<float>(float* St, int nk, const float* K, idx_t ks,
                                       const float* Qt, int d, int j0, int W, int L, float lam,
                                       const float* qh, const float* qw, float* m, float* l,
                                       float* alpha) {
  const __m512 vlam = _mm512_set1_ps(lam);
  __m512 vh[4], vw[4], mt[4], mo[4];
  for (int i = 0; i < 4; ++i) {
    vh[i] = _mm512_loadu_ps(qh + 16 * i);
    vw[i] = _mm512_loadu_ps(qw + 16 * i);
    mo[i] = mt[i] = _mm512_loadu_ps(m + 16 * i);
  }
  const bool one_line = W >= L;
  int r = 0;
  for (; r + 5 <= nk; r += 5)
    micro_logits_f32<5>(St + r * NB, K + r * ks, ks, Qt, d, (j0 + r) / W, (j0 + r) % W, W,
                        one_line, vh, vw, vlam, mt);
  for (; r < nk; ++r)
    micro_logits_f32<1>(St + r * NB, K + r * ks, ks, Qt, d, (j0 + r) / W, (j0 + r) % W, W,
                        one_line, vh, vw, vlam, mt);
  exp_tile_f32(St, nk, mo, mt, m, l, alpha);
}
#endif

// ---------------------------------------------------------------------------------------------
// Forward. q, k: (BN, L, d); v, o: (BN, L, e) as laid out by lq, lk, lv, lo (P sequences per
// outer step); lse: (BN, L) contiguous, or null (inference); decay: (N,). BN = B*N; the head
// of row bn is bn % N. add, when given, is laid out as o and added to it.
template <typename T>
void forward_strided(const T* q, const T* k, const T* v, const float* decay, T* o, T* lse,
                     int BN, int N, int L, int d, int e, int W, int P, Layout lq, Layout lk,
                     Layout lv, Layout lo, const T* add = nullptr) {
  const int nqb = ceil_div(L, NB);
  const idx_t ntask = static_cast<idx_t>(BN) * nqb;
#pragma omp parallel
  {
    Scratch<T> s(static_cast<idx_t>(d + e + TR + 8) * NB + 1024);
    T* Qt = s.take(static_cast<idx_t>(d) * NB);   // query block, transposed (d x NB)
    T* OT = s.take(static_cast<idx_t>(e) * NB);   // output accumulator, transposed (e x NB)
    T* St = s.take(static_cast<idx_t>(TR) * NB);  // logits / probabilities (keys x queries)
    T* qh = s.take(NB);
    T* qw = s.take(NB);
    T* m = s.take(NB);
    T* l = s.take(NB);
    T* alpha = s.take(NB);
#pragma omp for schedule(dynamic, 1)
    for (idx_t task = 0; task < ntask; ++task) {
      const int bn = static_cast<int>(task / nqb);
      const int i0 = static_cast<int>(task % nqb) * NB;
      const int nq = std::min(NB, L - i0);
      const T lam = static_cast<T>(decay[bn % N]);
      const T* qb = q + seq_base(lq, bn, N, P);
      const T* kb = k + seq_base(lk, bn, N, P);
      const T* vb = v + seq_base(lv, bn, N, P);
      prefetch_rows(qb, lq.tok, i0, nq, d);
      prefetch_rows(kb, lk.tok, 0, std::min(TR, L), d);
      prefetch_rows(vb, lv.tok, 0, std::min(TR, L), e);
      prefetch_rows(o + seq_base(lo, bn, N, P), lo.tok, i0, nq, e, true);
      load_t_strided(Qt, qb, lq.tok, i0, nq, d);
      coords(qh, qw, i0, W);
      std::fill(OT, OT + static_cast<idx_t>(e) * NB, T(0));
      for (int u = 0; u < NB; ++u) { m[u] = lowest<T>(); l[u] = T(0); }
      for (int j0 = 0; j0 < L; j0 += TR) {
        const int nk = std::min(TR, L - j0);
        if (j0 + TR < L) {  // the next tile's keys and values, while this one is computed
          prefetch_rows(kb, lk.tok, j0 + TR, std::min(TR, L - j0 - TR), d);
          prefetch_rows(vb, lv.tok, j0 + TR, std::min(TR, L - j0 - TR), e);
        }
        logits_softmax_tile(St, nk, kb + j0 * lk.tok, lk.tok, Qt, d, j0, W, L, lam, qh, qw, m,
                            l, alpha);
        for (int c = 0; c < e; ++c) {
          T* row = OT + static_cast<idx_t>(c) * NB;
          for (int u = 0; u < NB; ++u) row[u] *= alpha[u];
        }
        gemm<T, true>(OT, e, vb + j0 * lv.tok, 1, lv.tok, St, nk);  // OT += V^T P^T
      }
      T* ob = o + seq_base(lo, bn, N, P);
      for (int u = 0; u < NB; ++u) alpha[u] = T(1) / l[u];
      for (int u = 0; u < nq; ++u) {
        T* __restrict orow = ob + static_cast<idx_t>(i0 + u) * lo.tok;
        if (add) {  // o = retention + a map laid out as o (RMT's local enhancement)
          const T* __restrict arow = add + (orow - o);
          for (int c = 0; c < e; ++c) orow[c] = OT[c * NB + u] * alpha[u] + arow[c];
        } else {
          for (int c = 0; c < e; ++c) orow[c] = OT[c * NB + u] * alpha[u];
        }
      }
      if (lse) {
        T* lb = lse + static_cast<idx_t>(bn) * L;
        for (int u = 0; u < nq; ++u) lb[i0 + u] = m[u] + std::log(l[u]);
      }
    }
  }
}

// Forward on contiguous q, k: (BN, L, d); v, o: (BN, L, e).
template <typename T>
void forward(const T* q, const T* k, const T* v, const float* decay, T* o, T* lse,
             int BN, int N, int L, int d, int e, int W) {
  forward_strided(q, k, v, decay, o, lse, BN, N, L, d, e, W, 1, contiguous(N, L, d),
                  contiguous(N, L, d), contiguous(N, L, e), contiguous(N, L, e));
}

// ---------------------------------------------------------------------------------------------
// Backward: dq, dk (BN, L, d), dv (BN, L, e). Two kinds of independent tasks in one parallel loop
// (no atomics, deterministic): dQ per query block, dK/dV per key block.
template <typename T>
void dq_task(const T* qb, const T* kb, const T* vb, const T* dob, const T* lb, const T* Db,
             T* dqb, T lam, int i0, int L, int d, int e, int W, Scratch<T>& s) {
  T* mark = s.next;
  T* Qt = s.take(static_cast<idx_t>(d) * NB);
  T* dOt = s.take(static_cast<idx_t>(e) * NB);
  T* dQT = s.take(static_cast<idx_t>(d) * NB);
  T* St = s.take(static_cast<idx_t>(TR) * NB);
  T* dPt = s.take(static_cast<idx_t>(TR) * NB);
  T* qh = s.take(NB);
  T* qw = s.take(NB);
  T* ls = s.take(NB);
  T* Ds = s.take(NB);
  const int nq = std::min(NB, L - i0);
  load_t_strided(Qt, qb, d, i0, nq, d);
  load_t_strided(dOt, dob, e, i0, nq, e);
  coords(qh, qw, i0, W);
  for (int u = 0; u < NB; ++u) {
    ls[u] = u < nq ? lb[i0 + u] : T(0);
    Ds[u] = u < nq ? Db[i0 + u] : T(0);
  }
  std::fill(dQT, dQT + static_cast<idx_t>(d) * NB, T(0));
  for (int j0 = 0; j0 < L; j0 += TR) {
    const int nk = std::min(TR, L - j0);
    const T* kt = kb + static_cast<idx_t>(j0) * d;
    gemm<T, false>(St, nk, kt, d, 1, Qt, d);                                  // S^T = K Q^T
    gemm<T, false>(dPt, nk, vb + static_cast<idx_t>(j0) * e, e, 1, dOt, e);  // dP^T = V dO^T
    for (int r = 0; r < nk; ++r) {
      T* srow = St + static_cast<idx_t>(r) * NB;
      const T* prow = dPt + static_cast<idx_t>(r) * NB;
      const int j = j0 + r;
      add_bias(srow, lam, qh, qw, static_cast<T>(j / W), static_cast<T>(j % W));
      for (int u = 0; u < NB; ++u) srow[u] = exp_t(srow[u] - ls[u]) * (prow[u] - Ds[u]);  // dS^T
    }
    gemm<T, true>(dQT, d, kt, 1, d, St, nk);  // dQ^T += K^T dS^T
  }
  for (int u = 0; u < nq; ++u)
    for (int c = 0; c < d; ++c) dqb[static_cast<idx_t>(i0 + u) * d + c] = dQT[c * NB + u];
  s.next = mark;
}

template <typename T>
void dkv_task(const T* qb, const T* kb, const T* vb, const T* dob, const T* lb, const T* Db,
              T* dkb, T* dvb, T lam, int j0, int L, int d, int e, int W, Scratch<T>& s) {
  T* mark = s.next;
  T* Kt = s.take(static_cast<idx_t>(d) * NB);
  T* Vt = s.take(static_cast<idx_t>(e) * NB);
  T* dKT = s.take(static_cast<idx_t>(d) * NB);
  T* dVT = s.take(static_cast<idx_t>(e) * NB);
  T* S = s.take(static_cast<idx_t>(TR) * NB);
  T* dP = s.take(static_cast<idx_t>(TR) * NB);
  T* kh = s.take(NB);
  T* kw = s.take(NB);
  T* valid = s.take(NB);  // 0 on padded keys: their exp() may be huge, never let it spread
  const int nk = std::min(NB, L - j0);
  load_t_strided(Kt, kb, d, j0, nk, d);
  load_t_strided(Vt, vb, e, j0, nk, e);
  coords(kh, kw, j0, W);
  for (int u = 0; u < NB; ++u) valid[u] = u < nk ? T(1) : T(0);
  std::fill(dKT, dKT + static_cast<idx_t>(d) * NB, T(0));
  std::fill(dVT, dVT + static_cast<idx_t>(e) * NB, T(0));
  for (int i0 = 0; i0 < L; i0 += TR) {
    const int nq = std::min(TR, L - i0);
    const T* qt = qb + static_cast<idx_t>(i0) * d;
    const T* dot = dob + static_cast<idx_t>(i0) * e;
    gemm<T, false>(S, nq, qt, d, 1, Kt, d);    // S = Q K^T
    gemm<T, false>(dP, nq, dot, e, 1, Vt, e);  // dP = dO V^T
    for (int r = 0; r < nq; ++r) {
      T* srow = S + static_cast<idx_t>(r) * NB;
      T* prow = dP + static_cast<idx_t>(r) * NB;
      const int i = i0 + r;
      add_bias(srow, lam, kh, kw, static_cast<T>(i / W), static_cast<T>(i % W));
      const T li = lb[i], Di = Db[i];
      for (int u = 0; u < NB; ++u) {
        const T p = exp_t(srow[u] - li) * valid[u];
        srow[u] = p;                   // P
        prow[u] = p * (prow[u] - Di);  // dS
      }
    }
    gemm<T, true>(dVT, e, dot, 1, e, S, nq);  // dV^T += dO^T P
    gemm<T, true>(dKT, d, qt, 1, d, dP, nq);  // dK^T += Q^T dS
  }
  for (int u = 0; u < nk; ++u) {
    for (int c = 0; c < d; ++c) dkb[static_cast<idx_t>(j0 + u) * d + c] = dKT[c * NB + u];
    for (int c = 0; c < e; ++c) dvb[static_cast<idx_t>(j0 + u) * e + c] = dVT[c * NB + u];
  }
  s.next = mark;
}

template <typename T>
void backward(const T* q, const T* k, const T* v, const float* decay, const T* o, const T* lse,
              const T* dout, T* dq, T* dk, T* dv, int BN, int N, int L, int d, int e, int W) {
  std::vector<T> D(static_cast<size_t>(BN) * L);
  const idx_t rows = static_cast<idx_t>(BN) * L;
#pragma omp parallel for schedule(static)
  for (idx_t t = 0; t < rows; ++t) {
    T acc = 0;
    for (int c = 0; c < e; ++c) acc += dout[t * e + c] * o[t * e + c];
    D[t] = acc;
  }
  const int nb = ceil_div(L, NB);
  const idx_t half = static_cast<idx_t>(BN) * nb;
#pragma omp parallel
  {
    Scratch<T> s(static_cast<idx_t>(2 * (d + e) + 2 * TR + 8) * NB + 1024);
#pragma omp for schedule(dynamic, 1)
    for (idx_t task = 0; task < 2 * half; ++task) {
      const bool is_q = task < half;
      const idx_t tt = is_q ? task : task - half;
      const int bn = static_cast<int>(tt / nb);
      const int t0 = static_cast<int>(tt % nb) * NB;
      const T lam = static_cast<T>(decay[bn % N]);
      const idx_t od = static_cast<idx_t>(bn) * L * d, oe = static_cast<idx_t>(bn) * L * e;
      const idx_t ol = static_cast<idx_t>(bn) * L;
      if (is_q)
        dq_task(q + od, k + od, v + oe, dout + oe, lse + ol, D.data() + ol, dq + od, lam, t0, L,
                d, e, W, s);
      else
        dkv_task(q + od, k + od, v + oe, dout + oe, lse + ol, D.data() + ol, dk + od, dv + oe,
                 lam, t0, L, d, e, W, s);
    }
  }
}

}  // namespace jseg_retention

#endif  // JSEG_RETENTION_CPU_H
