// A dense synapse's sums driven by its input events (engine/synapses/events.py): each row of the input
// (one step of one sample) adds value * column j of W for its nonzero inputs j only, so the cost follows
// the spikes, not the weights. The caller proves every partial sum is an exact integer of the accumulator
// type (float32 below 2^24, float64 below 2^53), so the order of the additions cannot change the result:
// the same values as the dense matrix product (tested).
#include "spike_common.h"  // parallel_units

namespace {

// The row's nonzero inputs first, without a branch per input (a random 0/1 input mispredicts a branch
// at every other event), then one pass per event over W^T's row j.
template <typename F>
void rows(const F* x, int64_t r0, int64_t r1, int64_t n_in, const F* wt, int64_t n_out, F* out) {
  std::vector<int32_t> idx(n_in + 1);
  std::vector<F> val(n_in + 1);
  for (int64_t r = r0; r < r1; ++r) {
    F* __restrict acc = out + r * n_out;
    std::fill(acc, acc + n_out, F(0));
    const F* xr = x + r * n_in;
    int64_t na = 0;
    for (int64_t j = 0; j < n_in; ++j) {
      idx[na] = static_cast<int32_t>(j);
      val[na] = xr[j];
      na += xr[j] != F(0);
    }
    for (int64_t e = 0; e < na; ++e) {
      const F v = val[e];
      const F* __restrict w = wt + static_cast<int64_t>(idx[e]) * n_out;
      if (v == F(1)) {
#pragma GCC ivdep
        for (int64_t o = 0; o < n_out; ++o) acc[o] += w[o];
      } else {
#pragma GCC ivdep
        for (int64_t o = 0; o < n_out; ++o) acc[o] += v * w[o];
      }
    }
  }
}

template <typename F>
void run(const F* x, int64_t n_rows, int64_t n_in, const F* wt, int64_t n_out, F* out, int64_t threads) {
  const int64_t block = 16;  // rows per unit of work
  parallel_units((n_rows + block - 1) / block, threads, [&](int64_t u) {
    rows(x, u * block, std::min(n_rows, (u + 1) * block), n_in, wt, n_out, out);
  });
}

}  // namespace

extern "C" {

// x: (n_rows, n_in), wt: (n_in, n_out) = W transposed, out: (n_rows, n_out); all contiguous, of one type
// (double == 1: float64, else float32).
void dense_events(const void* x, int64_t n_rows, int64_t n_in, const void* wt, int64_t n_out, void* out,
                  int64_t is_double, int64_t threads) {
  if (is_double)
    run(static_cast<const double*>(x), n_rows, n_in, static_cast<const double*>(wt), n_out,
        static_cast<double*>(out), threads);
  else
    run(static_cast<const float*>(x), n_rows, n_in, static_cast<const float*>(wt), n_out,
        static_cast<float*>(out), threads);
}

}  // extern "C"
