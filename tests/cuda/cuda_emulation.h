// Minimal CPU emulation of the CUDA features retention_cuda.cu uses, so its kernels can be checked
// numerically on a machine without a GPU: one OS thread per CUDA thread, blocks run one after the
// other (so __shared__ can be a function-local static), __syncthreads is a std::barrier.
// C++20 (std::barrier). Not a general CUDA emulator: no warp intrinsics, atomics or streams.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx;
inline dim3 blockIdx, blockDim, gridDim;
inline std::barrier<>* jseg_emu_barrier = nullptr;
inline void __syncthreads() { jseg_emu_barrier->arrive_and_wait(); }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __restrict__ __restrict
#define __shared__ static

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

struct __half {
  _Float16 x;
};
inline float __half2float(__half h) { return static_cast<float>(h.x); }
inline __half __float2half_rn(float f) { return __half{static_cast<_Float16>(f)}; }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof(f));
  return f;
}

namespace jseg_emu {
template <typename... P>
struct Launch {
  void (*kern)(P...);
  dim3 grid, block;
  template <typename... A>
  void operator()(A... args) const {
    const unsigned nt = block.x * block.y * block.z;
    blockDim = block;
    gridDim = grid;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = dim3(bx, by, bz);
          std::barrier<> bar(nt);
          jseg_emu_barrier = &bar;
          std::vector<std::thread> threads;
          for (unsigned t = 0; t < nt; ++t)
            threads.emplace_back([&, t] {
              threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
              kern(static_cast<P>(args)...);
              // Threads that return early must not leave the others waiting at a barrier: the
              // kernels under test only return early when they have no __syncthreads.
            });
          for (auto& th : threads) th.join();
        }
  }
};
template <typename... P>
Launch<P...> launch(void (*kern)(P...), dim3 grid, dim3 block) {
  return Launch<P...>{kern, grid, block};
}
}  // namespace jseg_emu

#define JSEG_RET_EMULATE 1
#define JSEG_RET_LAUNCH(kern, grid, block) jseg_emu::launch(kern, grid, block)
