// Fused Manhattan-decay retention, CUDA: float32 / float16 inputs, float32 accumulation, head dims
// up to 128. Same algorithm as retention_cpu.h:
//   O_i = sum_j softmax_j(q_i . k_j + lambda_n (|h_i-h_j| + |w_i-w_j|)) v_j,  token t = h*W + w.
// forward : one block per (batch*head, block of BQ queries); streams key tiles through shared
//           memory with an online softmax; writes O and the log-sum-exp (float32).
// backward: D_i = rowsum(dO_i * O_i); dQ per query block and dK/dV per key block in two kernels
//           (each output element owned by one thread: no atomics, deterministic); probabilities are
//           recomputed from q, k and the LSE, nothing L x L is stored.
// Thread layout: NT threads; TPR consecutive threads share one row (a query, or a key in dK/dV)
// and split its columns. Only __syncthreads is used (no warp intrinsics), so tests can emulate the
// kernels on a CPU. Compiles standalone with CUDA headers only (C++14, as Jittor's nvcc call), and
// is the cuda_header that jseg_ret/ops/kernels uses through jt.code. No at-sign characters here:
// Jittor's code-op preprocessor reserves them.
#ifndef JSEG_RETENTION_CUDA_CU
#define JSEG_RETENTION_CUDA_CU

#ifndef JSEG_RET_EMULATE
#include <cuda_fp16.h>
#include <cuda_runtime.h>
// Launch through a macro so the CPU emulation in tests/cuda can substitute its own launcher.
#define JSEG_RET_LAUNCH(kern, grid, block) kern<<<grid, block>>>
#endif

namespace jseg_retention_cuda {

constexpr int NT = 128;              // threads per block
constexpr int SMEM_LIMIT = 48 * 1024;  // static shared memory per block
constexpr float LOWEST = -1e30f;     // finite "minus infinity" (fast-math safe)

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

// exp(x), Cephes polynomial (~1 ulp): Jittor builds with --use_fast_math, where expf becomes
// __expf, whose error grows with |x|; this keeps float32 results within 1e-5 of float64.
__device__ __forceinline__ float exp_acc(float x) {
  const float xc = fminf(fmaxf(x, -87.0f), 88.0f);
  const float n = floorf(xc * 1.44269504088896341f + 0.5f);
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
  const float scale = __int_as_float((static_cast<int>(n) + 127) << 23);
  return x < -87.0f ? 0.0f : p * scale;
}

__device__ __forceinline__ float decay_bias(float lam, int i, int j, int W) {
  return lam * static_cast<float>(abs(i / W - j / W) + abs(i % W - j % W));
}

// Rows [r0, r0+R) x columns [0, DMAX) of a row-major (nrows x dim) matrix into a float tile with
// row stride LD; zero outside the matrix (padding rows / columns then contribute nothing).
template <int R, int DMAX, int LD, typename T>
__device__ __forceinline__ void load_tile(float* dst, const T* src, int r0, int nrows, int dim) {
  for (int idx = threadIdx.x; idx < R * DMAX; idx += NT) {
    const int r = idx / DMAX, c = idx % DMAX;
    float x = 0.0f;
    if (r0 + r < nrows && c < dim) x = to_f(src[static_cast<long long>(r0 + r) * dim + c]);
    dst[r * LD + c] = x;
  }
}

// ------------------------------------------------------------------------------------------------
// Forward. grid (B*N, ceil(L/BQ)). q, k: (BN, L, d); v, o: (BN, L, e); lse: (BN, L) float32.
template <typename T, int DMAX, int BQ, int BK>
__global__ void __launch_bounds__(NT)
fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
           const float* __restrict__ decay, T* __restrict__ o, float* __restrict__ lse,
           int N, int L, int d, int e, int W) {
  constexpr int TPR = NT / BQ, CPT = BK / TPR, OPT = DMAX / TPR, LD = DMAX + 1;
  static_assert(NT % BQ == 0 && BK % TPR == 0 && DMAX % TPR == 0, "bad tile configuration");
  static_assert(sizeof(float) * (BQ * LD + 2 * BK * LD + BQ * (BK + 1) + NT) <= SMEM_LIMIT,
                "forward tiles exceed static shared memory");
  __shared__ float Qs[BQ * LD];
  __shared__ float Ks[BK * LD];
  __shared__ float Vs[BK * LD];
  __shared__ float Ps[BQ * (BK + 1)];
  __shared__ float red[NT];

  const int bn = blockIdx.x, q0 = blockIdx.y * BQ;
  const int row = threadIdx.x / TPR, sub = threadIdx.x % TPR, i = q0 + row;
  const float lam = decay[bn % N];
  const long long od = static_cast<long long>(bn) * L * d, oe = static_cast<long long>(bn) * L * e;

  load_tile<BQ, DMAX, LD>(Qs, q + od, q0, L, d);
  float m = LOWEST, lpart = 0.0f, acc[OPT];
#pragma unroll
  for (int u = 0; u < OPT; ++u) acc[u] = 0.0f;

  for (int k0 = 0; k0 < L; k0 += BK) {
    __syncthreads();  // previous tile consumed (first pass: orders the Qs load)
    load_tile<BK, DMAX, LD>(Ks, k + od, k0, L, d);
    load_tile<BK, DMAX, LD>(Vs, v + oe, k0, L, e);
    __syncthreads();
    float s[CPT], tmax = LOWEST;
#pragma unroll
    for (int t = 0; t < CPT; ++t) {
      const int j = sub + TPR * t;
      float dot = 0.0f;
#pragma unroll 8
      for (int c = 0; c < DMAX; ++c) dot += Qs[row * LD + c] * Ks[j * LD + c];
      s[t] = k0 + j < L ? dot + decay_bias(lam, i, k0 + j, W) : LOWEST;
      tmax = fmaxf(tmax, s[t]);
    }
    red[threadIdx.x] = tmax;
    __syncthreads();
#pragma unroll
    for (int x = 0; x < TPR; ++x) tmax = fmaxf(tmax, red[row * TPR + x]);
    const float mnew = fmaxf(m, tmax);  // key k0 is always valid, so mnew is a real logit
    const float alpha = exp_acc(m - mnew);
    m = mnew;
    lpart *= alpha;
#pragma unroll
    for (int u = 0; u < OPT; ++u) acc[u] *= alpha;
#pragma unroll
    for (int t = 0; t < CPT; ++t) {
      const float p = exp_acc(s[t] - mnew);
      lpart += p;
      Ps[row * (BK + 1) + sub + TPR * t] = p;
    }
    __syncthreads();
    for (int j = 0; j < BK; ++j) {
      const float p = Ps[row * (BK + 1) + j];
#pragma unroll
      for (int u = 0; u < OPT; ++u) acc[u] += p * Vs[j * LD + sub + TPR * u];
    }
  }
  __syncthreads();
  red[threadIdx.x] = lpart;
  __syncthreads();
  float l = 0.0f;
#pragma unroll
  for (int x = 0; x < TPR; ++x) l += red[row * TPR + x];
  if (i < L) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int u = 0; u < OPT; ++u) {
      const int c = sub + TPR * u;
      if (c < e) o[oe + static_cast<long long>(i) * e + c] = from_f<T>(acc[u] * inv);
    }
    if (sub == 0) lse[static_cast<long long>(bn) * L + i] = m + logf(l);
  }
}

// ------------------------------------------------------------------------------------------------
// Backward 1: D_i = sum_c dO_ic O_ic, one thread per row.
template <typename T>
__global__ void rowdot_kernel(const T* __restrict__ dout, const T* __restrict__ o,
                              float* __restrict__ D, long long rows, int e) {
  const long long r = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float acc = 0.0f;
  for (int c = 0; c < e; ++c) acc += to_f(dout[r * e + c]) * to_f(o[r * e + c]);
  D[r] = acc;
}

// Backward 2: dQ. grid (B*N, ceil(L/BQ)); threads own (query row, columns).
template <typename T, int DMAX, int BQ, int BK>
__global__ void __launch_bounds__(NT)
dq_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
          const float* __restrict__ decay, const T* __restrict__ dout,
          const float* __restrict__ lse, const float* __restrict__ D, T* __restrict__ dq,
          int N, int L, int d, int e, int W) {
  constexpr int TPR = NT / BQ, CPT = BK / TPR, OPT = DMAX / TPR, LD = DMAX + 1;
  static_assert(NT % BQ == 0 && BK % TPR == 0 && DMAX % TPR == 0, "bad tile configuration");
  static_assert(sizeof(float) * (2 * BQ * LD + 2 * BK * LD + BQ * (BK + 1)) <= SMEM_LIMIT,
                "dQ tiles exceed static shared memory");
  __shared__ float Qs[BQ * LD];
  __shared__ float dOs[BQ * LD];
  __shared__ float Ks[BK * LD];
  __shared__ float Vs[BK * LD];
  __shared__ float dSs[BQ * (BK + 1)];

  const int bn = blockIdx.x, q0 = blockIdx.y * BQ;
  const int row = threadIdx.x / TPR, sub = threadIdx.x % TPR, i = q0 + row;
  const float lam = decay[bn % N];
  const long long od = static_cast<long long>(bn) * L * d, oe = static_cast<long long>(bn) * L * e;
  const long long ol = static_cast<long long>(bn) * L;

  load_tile<BQ, DMAX, LD>(Qs, q + od, q0, L, d);
  load_tile<BQ, DMAX, LD>(dOs, dout + oe, q0, L, e);
  const float li = i < L ? lse[ol + i] : 0.0f, Di = i < L ? D[ol + i] : 0.0f;
  float acc[OPT];
#pragma unroll
  for (int u = 0; u < OPT; ++u) acc[u] = 0.0f;

  for (int k0 = 0; k0 < L; k0 += BK) {
    __syncthreads();
    load_tile<BK, DMAX, LD>(Ks, k + od, k0, L, d);
    load_tile<BK, DMAX, LD>(Vs, v + oe, k0, L, e);
    __syncthreads();
#pragma unroll
    for (int t = 0; t < CPT; ++t) {
      const int j = sub + TPR * t;
      float ds = 0.0f;
      if (i < L && k0 + j < L) {
        float s = 0.0f, dp = 0.0f;
#pragma unroll 8
        for (int c = 0; c < DMAX; ++c) {
          s += Qs[row * LD + c] * Ks[j * LD + c];
          dp += dOs[row * LD + c] * Vs[j * LD + c];
        }
        const float p = exp_acc(s + decay_bias(lam, i, k0 + j, W) - li);
        ds = p * (dp - Di);
      }
      dSs[row * (BK + 1) + j] = ds;
    }
    __syncthreads();
    for (int j = 0; j < BK; ++j) {
      const float ds = dSs[row * (BK + 1) + j];
#pragma unroll
      for (int u = 0; u < OPT; ++u) acc[u] += ds * Ks[j * LD + sub + TPR * u];
    }
  }
  if (i < L) {
#pragma unroll
    for (int u = 0; u < OPT; ++u) {
      const int c = sub + TPR * u;
      if (c < d) dq[od + static_cast<long long>(i) * d + c] = from_f<T>(acc[u]);
    }
  }
}

// Backward 3: dK, dV. grid (B*N, ceil(L/BK)); threads own (key row, columns) and stream over
// query tiles of BQ.
template <typename T, int DMAX, int BK, int BQ>
__global__ void __launch_bounds__(NT)
dkv_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
           const float* __restrict__ decay, const T* __restrict__ dout,
           const float* __restrict__ lse, const float* __restrict__ D, T* __restrict__ dk,
           T* __restrict__ dv, int N, int L, int d, int e, int W) {
  constexpr int TPR = NT / BK, CPT = BQ / TPR, OPT = DMAX / TPR, LD = DMAX + 1;
  static_assert(NT % BK == 0 && BQ % TPR == 0 && DMAX % TPR == 0, "bad tile configuration");
  static_assert(sizeof(float) * (2 * BK * LD + 2 * BQ * LD + 2 * BK * (BQ + 1) + 2 * BQ) <=
                    SMEM_LIMIT,
                "dK/dV tiles exceed static shared memory");
  __shared__ float Ks[BK * LD];
  __shared__ float Vs[BK * LD];
  __shared__ float Qs[BQ * LD];
  __shared__ float dOs[BQ * LD];
  __shared__ float Ps[BK * (BQ + 1)];
  __shared__ float dSs[BK * (BQ + 1)];
  __shared__ float ls[BQ];
  __shared__ float Ds[BQ];

  const int bn = blockIdx.x, k0 = blockIdx.y * BK;
  const int row = threadIdx.x / TPR, sub = threadIdx.x % TPR, j = k0 + row;
  const float lam = decay[bn % N];
  const long long od = static_cast<long long>(bn) * L * d, oe = static_cast<long long>(bn) * L * e;
  const long long ol = static_cast<long long>(bn) * L;

  load_tile<BK, DMAX, LD>(Ks, k + od, k0, L, d);
  load_tile<BK, DMAX, LD>(Vs, v + oe, k0, L, e);
  float dk_acc[OPT], dv_acc[OPT];
#pragma unroll
  for (int u = 0; u < OPT; ++u) dk_acc[u] = dv_acc[u] = 0.0f;

  for (int q0 = 0; q0 < L; q0 += BQ) {
    __syncthreads();
    load_tile<BQ, DMAX, LD>(Qs, q + od, q0, L, d);
    load_tile<BQ, DMAX, LD>(dOs, dout + oe, q0, L, e);
    for (int x = threadIdx.x; x < BQ; x += NT) {
      ls[x] = q0 + x < L ? lse[ol + q0 + x] : 0.0f;
      Ds[x] = q0 + x < L ? D[ol + q0 + x] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int t = 0; t < CPT; ++t) {
      const int ii = sub + TPR * t, i = q0 + ii;
      float p = 0.0f, ds = 0.0f;
      if (i < L && j < L) {
        float s = 0.0f, dp = 0.0f;
#pragma unroll 8
        for (int c = 0; c < DMAX; ++c) {
          s += Ks[row * LD + c] * Qs[ii * LD + c];
          dp += Vs[row * LD + c] * dOs[ii * LD + c];
        }
        p = exp_acc(s + decay_bias(lam, i, j, W) - ls[ii]);
        ds = p * (dp - Ds[ii]);
      }
      Ps[row * (BQ + 1) + ii] = p;
      dSs[row * (BQ + 1) + ii] = ds;
    }
    __syncthreads();
    for (int ii = 0; ii < BQ; ++ii) {
      const float p = Ps[row * (BQ + 1) + ii], ds = dSs[row * (BQ + 1) + ii];
#pragma unroll
      for (int u = 0; u < OPT; ++u) {
        const int c = sub + TPR * u;
        dv_acc[u] += p * dOs[ii * LD + c];
        dk_acc[u] += ds * Qs[ii * LD + c];
      }
    }
  }
  if (j < L) {
#pragma unroll
    for (int u = 0; u < OPT; ++u) {
      const int c = sub + TPR * u;
      if (c < d) dk[od + static_cast<long long>(j) * d + c] = from_f<T>(dk_acc[u]);
      if (c < e) dv[oe + static_cast<long long>(j) * e + c] = from_f<T>(dv_acc[u]);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Host launchers (default stream, as Jittor's own kernels). Tile sizes per padded head dim keep
// every kernel under 48 KB of static shared memory.
inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

template <typename T, int DMAX, int BQ, int BK>
void launch_fwd(const T* q, const T* k, const T* v, const float* decay, T* o, float* lse, int BN,
                int N, int L, int d, int e, int W) {
  auto kern = fwd_kernel<T, DMAX, BQ, BK>;
  JSEG_RET_LAUNCH(kern, dim3(BN, ceil_div(L, BQ)), dim3(NT))(q, k, v, decay, o, lse, N, L, d, e, W);
}

template <typename T, int DMAX, int BQ, int BK, int KB, int KQ>
void launch_bwd(const T* q, const T* k, const T* v, const float* decay, const T* dout,
                const float* lse, const float* D, T* dq, T* dk, T* dv, int BN, int N, int L, int d,
                int e, int W) {
  auto kq = dq_kernel<T, DMAX, BQ, BK>;
  JSEG_RET_LAUNCH(kq, dim3(BN, ceil_div(L, BQ)), dim3(NT))
  (q, k, v, decay, dout, lse, D, dq, N, L, d, e, W);
  auto kkv = dkv_kernel<T, DMAX, KB, KQ>;
  JSEG_RET_LAUNCH(kkv, dim3(BN, ceil_div(L, KB)), dim3(NT))
  (q, k, v, decay, dout, lse, D, dk, dv, N, L, d, e, W);
}

// Entry points. Return cudaErrorInvalidValue for head dims above 128 (checked in Python first).
template <typename T>
cudaError_t forward(const T* q, const T* k, const T* v, const float* decay, T* o, float* lse,
                    int BN, int N, int L, int d, int e, int W) {
  const int dm = d > e ? d : e;
  if (dm <= 32) launch_fwd<T, 32, 32, 64>(q, k, v, decay, o, lse, BN, N, L, d, e, W);
  else if (dm <= 64) launch_fwd<T, 64, 32, 32>(q, k, v, decay, o, lse, BN, N, L, d, e, W);
  else if (dm <= 128) launch_fwd<T, 128, 16, 32>(q, k, v, decay, o, lse, BN, N, L, d, e, W);
  else return cudaErrorInvalidValue;
  return cudaGetLastError();
}

// D: (BN, L) float32 scratch.
template <typename T>
cudaError_t backward(const T* q, const T* k, const T* v, const float* decay, const T* o,
                     const float* lse, const T* dout, T* dq, T* dk, T* dv, float* D, int BN,
                     int N, int L, int d, int e, int W) {
  const int dm = d > e ? d : e;
  if (dm > 128) return cudaErrorInvalidValue;
  const long long rows = static_cast<long long>(BN) * L;
  auto krow = rowdot_kernel<T>;
  JSEG_RET_LAUNCH(krow, dim3(static_cast<unsigned>((rows + 255) / 256)), dim3(256))
  (dout, o, D, rows, e);
  if (dm <= 32)
    launch_bwd<T, 32, 32, 64, 32, 64>(q, k, v, decay, dout, lse, D, dq, dk, dv, BN, N, L, d, e, W);
  else if (dm <= 64)
    launch_bwd<T, 64, 32, 32, 32, 32>(q, k, v, decay, dout, lse, D, dq, dk, dv, BN, N, L, d, e, W);
  else
    launch_bwd<T, 128, 16, 16, 16, 16>(q, k, v, decay, dout, lse, D, dq, dk, dv, BN, N, L, d, e,
                                       W);
  return cudaGetLastError();
}

}  // namespace jseg_retention_cuda

#endif  // JSEG_RETENTION_CUDA_CU
