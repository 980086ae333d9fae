// Exact (erf) GELU on the CPU (C++ + OpenMP), inference: y = x/2 (1 + erf(x / sqrt 2)).
// Jittor's fused element-wise kernel runs on one thread; this one splits the values over the
// threads.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_GELU_CPU_H
#define JSEG_GELU_CPU_H

#include <cmath>
#include <cstdint>

namespace jseg_gelu {

template <typename T>
void forward(const T* x, T* y, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = v * T(0.5) * (T(1) + std::erf(v * T(0.7071067811865476)));
  }
}

}  // namespace jseg_gelu
#endif
