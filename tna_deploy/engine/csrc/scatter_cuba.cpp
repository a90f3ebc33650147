// Pool, unpool and convT (engine/synapses/pool.py, unpool.py, convt.py) with their CUBA neurons, fused:
// each step, every nonzero input adds its value times the weights of the outputs it reaches (the layer
// as a list of (output, weight) per input, engine/synapses/scatter.py), the sums are wrapped to 24 bits as
// Lava's Conv wraps them, shifted by 6 and run through Lava's CUBA neuron in place; the spikes are written
// batch-major (K, n_out, T) as the emulator's raster holds them. Samples run in parallel. The same
// integers as the torch path (conv in float32 / float64, then engine/cuba.py; tested).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "loihi_cuba.h"

namespace {

inline double signed_clamp24(double z) {  // Lava's conv.utils.signed_clamp(z, 24) of an exact integer
  const double two23 = 8388608.0, two24 = 16777216.0;
  if (z < two23 && z >= -two23) return z;
  double m = std::fmod(z + two23, two24);
  if (m < 0) m += two24;
  return m - two23;
}

template <typename X>
void run_sample(const X* x, int64_t k, int64_t T, int64_t n_in, int64_t sk, int64_t si, int64_t st,
                bool binary, const int64_t* starts, const int64_t* targets, const double* weights,
                int64_t n_out, const double* bias, const tna::LoihiCuba& cell, uint8_t* spikes,
                double* v_last) {
  std::vector<std::vector<std::pair<int64_t, double>>> events(T);  // (input, value) per step
  const X* xs = x + k * sk;
  for (int64_t i = 0; i < n_in; ++i) {
    for (int64_t t = 0; t < T; ++t) {
      const X val = xs[i * si + t * st];
      if (val != X(0)) events[t].emplace_back(i, binary ? 1.0 : static_cast<double>(val));
    }
  }
  std::vector<double> acc(n_out), u(n_out, 0.0), v(n_out, 0.0);
  uint8_t* sp = spikes + k * n_out * T;
  for (int64_t t = 0; t < T; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (const auto& [i, val] : events[t]) {
      for (int64_t e = starts[i]; e < starts[i + 1]; ++e) acc[targets[e]] += val * weights[e];
    }
    for (int64_t j = 0; j < n_out; ++j) {
      const double a = signed_clamp24(acc[j]) * 64.0;
      const bool s = cell.step(a, bias ? bias[j] : 0.0, u[j], v[j]);
      sp[j * T + t] = s;
    }
  }
  std::copy(v.begin(), v.end(), v_last + k * n_out);
}

}  // namespace

extern "C" {

// x: K samples of n_in inputs over T steps at element strides (sk, si, st), of type xtype (0 uint8, 1
// int32, 2 int64, 3 float32, 4 float64); binary: every nonzero input counts 1. starts (n_in + 1), targets,
// weights: input i reaches targets[starts[i]:starts[i+1]] with those weights. bias: (n_out) state units or
// null. spikes: (K, n_out, T); v_last: (K, n_out) the voltage after the last step.
void scatter_cuba_forward(const void* x, int64_t xtype, int64_t binary, int64_t K, int64_t T, int64_t n_in,
                          int64_t sk, int64_t si, int64_t st, const int64_t* starts, const int64_t* targets,
                          const double* weights, int64_t n_out, const double* bias, double ku, double kv,
                          int64_t has_threshold, double level, uint8_t* spikes, double* v_last,
                          int64_t threads) {
  const tna::LoihiCuba cell{ku, kv, level, has_threshold != 0};
  auto work = [&](int64_t k) {
#define TNA_SAMPLE(X)                                                                                    \
  run_sample<X>(static_cast<const X*>(x), k, T, n_in, sk, si, st, binary != 0, starts, targets, weights, \
                n_out, bias, cell, spikes, v_last)
    switch (xtype) {
      case 0: TNA_SAMPLE(uint8_t); break;
      case 1: TNA_SAMPLE(int32_t); break;
      case 2: TNA_SAMPLE(int64_t); break;
      case 3: TNA_SAMPLE(float); break;
      default: TNA_SAMPLE(double); break;
    }
#undef TNA_SAMPLE
  };
  const int64_t n = std::max<int64_t>(1, std::min(threads, K));
  if (n == 1) {
    for (int64_t k = 0; k < K; ++k) work(k);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t w = 0; w < n; ++w)
    pool.emplace_back([&, w] {
      for (int64_t k = w; k < K; k += n) work(k);
    });
  for (auto& th : pool) th.join();
}

}  // extern "C"
