// netx's RecurrentDense (engine/synapses/dense_rec.py), its sequential part fused: each step adds the
// recurrent weights of the neurons that spiked the step before (event-driven: one row of W_rec^T per
// spike), floors the sum times 2^weight_exp, adds the feed-forward term, shifts by 6 (int32 wrap when
// asked) and runs Lava's CUBA neuron in place. The same integers as the torch loop (tested).
#include <cstdint>
#include <cstring>
#include <vector>

#include "loihi_cuba.h"

extern "C" {

// a: (steps, n) feed-forward a_in (integers); w_t: (n, n) W_rec transposed (row j: what neuron j's spike
// adds to every neuron); reset: (steps) 1 where u and v start from rest; bias: (n) state units or null;
// s: (n) the previous step's spikes in, the last step's out; out: (steps, n) spikes; u_rec, v_rec: (steps,
// n) the state after each step, or null.
void dense_rec_forward(const double* a, int64_t steps, int64_t n, const double* w_t, double scale,
                       const uint8_t* reset, const double* bias, int64_t wrap, double ku, double kv,
                       int64_t has_threshold, double level, double* s, float* out, double* u_rec,
                       double* v_rec) {
  const tna::LoihiCuba cell{ku, kv, level, has_threshold != 0};
  std::vector<double> u(n, 0.0), v(n, 0.0), r(n);
  std::vector<int64_t> active, next;
  for (int64_t j = 0; j < n; ++j)
    if (s[j] != 0.0) active.push_back(j);
  for (int64_t t = 0; t < steps; ++t) {
    if (reset[t]) {
      std::fill(u.begin(), u.end(), 0.0);
      std::fill(v.begin(), v.end(), 0.0);
    }
    std::fill(r.begin(), r.end(), 0.0);
    for (int64_t j : active) {
      const double* row = w_t + j * n;
      for (int64_t i = 0; i < n; ++i) r[i] += row[i];
    }
    next.clear();
    const double* at = a + t * n;
    float* ot = out + t * n;
    for (int64_t i = 0; i < n; ++i) {
      const double x = at[i] + std::floor(r[i] * scale);
      const double in = wrap ? tna::shift_left6_int32(x) : x * 64.0;
      const bool spike = cell.step(in, bias ? bias[i] : 0.0, u[i], v[i]);
      ot[i] = spike ? 1.0f : 0.0f;
      if (spike) next.push_back(i);
      if (u_rec) u_rec[t * n + i] = u[i];
      if (v_rec) v_rec[t * n + i] = v[i];
    }
    active.swap(next);
  }
  for (int64_t j = 0; j < n; ++j) s[j] = 0.0;
  for (int64_t j : active) s[j] = 1.0;
}

}  // extern "C"
