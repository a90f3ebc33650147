// netx's RecurrentDense (engine/synapses/dense_rec.py), its sequential part fused: each step adds the
// recurrent weights of the neurons that spiked the step before (event-driven: one row of W_rec^T per
// spike, summed in int32: the caller proves no row of W_rec sums past 2^31 in magnitude, so the sum is
// exact, 8 lanes to an AVX2 add), floors the sum times 2^weight_exp, adds the feed-forward term, shifts by
// 6 (int32 wrap when asked) and runs Lava's CUBA neuron in place. The same integers as the torch loop
// (tested). Each step's neuron pass has no branch per neuron, so it vectorizes; the spiking neurons are
// listed after it.
#include <cstdint>
#include <cstring>
#include <vector>

#include "loihi_cuba.h"

extern "C" {

// a: (steps, n) feed-forward a_in (integers); w_t: (n, n) W_rec's integer mantissas transposed (row j:
// what neuron j's spike adds to every neuron); reset: (steps) 1 where u and v start from rest; bias: (n)
// state units or null; s: (n) the previous step's spikes in, the last step's out; out: (steps, n) spikes;
// u_rec, v_rec: (steps, n) the state after each step, or null.
void dense_rec_forward(const double* a, int64_t steps, int64_t n, const int32_t* w_t, double scale,
                       const uint8_t* reset, const double* bias, int64_t wrap, double ku, double kv,
                       int64_t has_threshold, double level, double* s, float* out, double* u_rec,
                       double* v_rec) {
  const tna::LoihiCuba cell{ku, kv, level, has_threshold != 0};
  std::vector<double> u(n, 0.0), v(n, 0.0), in(n), b(n, 0.0);
  std::vector<int32_t> r(n);
  std::vector<int64_t> active;
  if (bias) std::memcpy(b.data(), bias, n * sizeof(double));
  for (int64_t j = 0; j < n; ++j)
    if (s[j] != 0.0) active.push_back(j);
  double* __restrict uu = u.data();
  double* __restrict vv = v.data();
  double* __restrict x = in.data();
  const double* __restrict bb = b.data();
  int32_t* __restrict acc = r.data();
  for (int64_t t = 0; t < steps; ++t) {
    if (reset[t]) {
      std::fill(u.begin(), u.end(), 0.0);
      std::fill(v.begin(), v.end(), 0.0);
    }
    std::fill(r.begin(), r.end(), 0);
    for (int64_t j : active) {
      const int32_t* __restrict row = w_t + j * n;
      for (int64_t i = 0; i < n; ++i) acc[i] += row[i];
    }
    const double* __restrict at = a + t * n;
    float* __restrict ot = out + t * n;
    for (int64_t i = 0; i < n; ++i) x[i] = at[i] + std::floor(static_cast<double>(acc[i]) * scale);
    if (wrap) {
      for (int64_t i = 0; i < n; ++i) x[i] = tna::shift_left6_int32(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) x[i] *= 64.0;
    }
    for (int64_t i = 0; i < n; ++i) ot[i] = cell.step(x[i], bb[i], uu[i], vv[i]) ? 1.0f : 0.0f;
    active.clear();
    for (int64_t i = 0; i < n; ++i)
      if (ot[i] != 0.0f) active.push_back(i);
    if (u_rec) std::memcpy(u_rec + t * n, uu, n * sizeof(double));
    if (v_rec) std::memcpy(v_rec + t * n, vv, n * sizeof(double));
  }
  for (int64_t j = 0; j < n; ++j) s[j] = 0.0;
  for (int64_t j : active) s[j] = 1.0;
}

}  // extern "C"
