// Spike counts and synaptic ops of a uint8 raster, per sample and timestep, in one pass over its memory
// (simulate's counting: hardware/counts.py states the definition, synops_of, and when this applies).
//
//   counts[k, t] = sum_j (r[k, j, t] != 0)      ops[k, t] = sum_j (r[k, j, t] != 0) * fo[j]
//
// r is (K, T, J) memory (time-major, the order the emulator and the PyTorch reference hand out) or (K, J, T)
// (time_last); fo (J,) int32 with sum(fo) < 2^31 (the caller checks), so every row sum is an exact int32 and
// the results equal the float sums of synops_of, which are exact integers too. Samples run on torch's threads.
// Part of the fast engine's torch extension (engine/cuba_ext.py; csrc/cuba.cpp binds it).
#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

void raster_counts(const uint8_t* r, int64_t K, int64_t T, int64_t J, bool time_last, const int32_t* fo,
                   int64_t* counts, int64_t* ops) {
  at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    std::vector<int32_t> c(time_last ? T : 0), s(time_last ? T : 0);
    for (int64_t k = k0; k < k1; ++k) {
      const uint8_t* rk = r + k * T * J;
      if (!time_last) {
        for (int64_t t = 0; t < T; ++t) {
          const uint8_t* row = rk + t * J;
          int32_t n = 0, sum = 0;
          for (int64_t j = 0; j < J; ++j) {  // branch-free: vectorized by the compiler
            const int32_t on = row[j] != 0;
            n += on;
            sum += fo[j] & -on;
          }
          counts[k * T + t] = n;
          ops[k * T + t] = sum;
        }
      } else {
        std::fill(c.begin(), c.end(), 0);
        std::fill(s.begin(), s.end(), 0);
        for (int64_t j = 0; j < J; ++j) {
          const uint8_t* col = rk + j * T;
          for (int64_t t = 0; t < T; ++t) {
            const int32_t on = col[t] != 0;
            c[t] += on;
            s[t] += fo[j] & -on;
          }
        }
        for (int64_t t = 0; t < T; ++t) {
          counts[k * T + t] = c[t];
          ops[k * T + t] = s[t];
        }
      }
    }
  });
}
