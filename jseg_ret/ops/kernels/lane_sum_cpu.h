// Sums for the CPU normalization kernels (LayerNorm, GroupNorm), prepended to their sources by
// ``kernel_source``.
// No at-sign characters in this file: Jittor's code-op preprocessor reserves them.
#ifndef JSEG_LANE_SUM_CPU_H
#define JSEG_LANE_SUM_CPU_H

#include <cstdint>

namespace jseg_reduce {

// Sum of value(0) .. value(n-1) in Acc with 8 independent partial sums, so the compiler
// vectorises it without -ffast-math (a single accumulator is a serial dependency chain).
template <typename Acc, typename F>
inline Acc lane_sum(int64_t n, F value) {
  Acc acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int u = 0; u < 8; ++u) acc[u] += value(k + u);
  Acc total = 0;
  for (; k < n; ++k) total += value(k);
  for (int u = 0; u < 8; ++u) total += acc[u];
  return total;
}

}  // namespace jseg_reduce

#endif  // JSEG_LANE_SUM_CPU_H
