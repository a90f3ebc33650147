// Sigma-delta neurons (engine/neurons/sdnn.py: Lava's PyDeltaModelFixed, PySigmaDeltaModelFixed and
// PySigmaModelFixed) in one pass over the T steps, every neuron of every sample, neurons split over
// threads: the same integers as the torch path (tested). Every value is Lava's int32: sums wrap modulo 2^32
// (computed in uint32), numpy's abs keeps -2^31, and the shifts are arithmetic (floor). The torch path
// skips the wraps where a bound proves them idle; here they always run, which is the same where they are.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kChunk = 512;  // neurons per unit of parallel work (their state stays in L1)
constexpr int32_t kMin = INT32_MIN;

inline int32_t add32(int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) + static_cast<uint32_t>(y));
}
inline int32_t sub32(int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) - static_cast<uint32_t>(y));
}
inline int32_t abs32(int32_t x) { return x == kMin ? kMin : (x < 0 ? -x : x); }  // numpy's int32 abs
inline int32_t to32(int64_t x) { return static_cast<int32_t>(static_cast<uint32_t>(x)); }

struct Params {
  int64_t T, M, role, e, relu, vth, cum, state_exp, graded;
  const int64_t* bias;  // (M) bias << e, or null
};

// Neurons [lo, hi) over every step. X: the input's type; Out: float or double.
template <typename X, typename Out>
int64_t run_chunk(const X* a, const Params& p, int64_t lo, int64_t hi, Out* out, double* u, double* v) {
  int32_t sigma[kChunk] = {}, total[kChunk] = {}, error[kChunk] = {};
  int32_t bias[kChunk] = {};
  const int64_t n = hi - lo;
  if (p.bias)
    for (int64_t j = 0; j < n; ++j) bias[j] = to32(p.bias[lo + j]);
  const int32_t vth = static_cast<int32_t>(p.vth);
  const uint32_t e = static_cast<uint32_t>(p.e);
  const int sx = static_cast<int>(p.state_exp);
  int64_t out_max = 0;
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t base = t * p.M + lo;
    const X* at = a + base;
    Out* ot = out + base;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t in = to32(static_cast<int64_t>(at[j]));
      int32_t sig, act;
      if (p.role == 0) {  // Delta: x = a_in << e
        sig = act = static_cast<int32_t>(static_cast<uint32_t>(in) << e);
      } else {
        sig = sigma[j] = add32(sigma[j], in);
        act = sig;
        if (p.role == 1) {
          act = add32(sig, bias[j]);
          if (p.relu) act = std::max(act, 0);
        }
      }
      int64_t o;
      if (p.role == 2) {
        o = sig;
      } else {
        const int32_t delta = sub32(act, total[j]);
        int32_t s;
        if (p.cum) {
          const int32_t err = add32(error[j], delta);
          s = abs32(err) >= vth ? delta : 0;
          error[j] = (s != 0 && s != kMin) ? 0 : err;  // the torch path's abs(s) <= 0 keeps -2^31
        } else {
          s = abs32(delta) >= vth ? delta : 0;
        }
        total[j] = add32(total[j], s);
        o = s >> sx;
      }
      if (!p.graded) o = o != 0;
      out_max = std::max(out_max, o < 0 ? -o : o);
      ot[j] = static_cast<Out>(o);
      if (u) u[base + j] = static_cast<double>(sig);
      if (v) v[base + j] = static_cast<double>(act);
    }
  }
  return out_max;
}

template <typename X, typename Out>
int64_t run_all(const X* a, const Params& p, Out* out, double* u, double* v, int64_t threads) {
  const int64_t units = (p.M + kChunk - 1) / kChunk;
  std::atomic<int64_t> next(0);
  std::vector<int64_t> maxima(std::max<int64_t>(1, std::min(threads, units)), 0);
  auto work = [&](int64_t w) {
    for (int64_t unit = next++; unit < units; unit = next++) {
      const int64_t lo = unit * kChunk, hi = std::min(p.M, lo + kChunk);
      maxima[w] = std::max(maxima[w], run_chunk(a, p, lo, hi, out, u, v));
    }
  };
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < static_cast<int64_t>(maxima.size()); ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool) th.join();
  return *std::max_element(maxima.begin(), maxima.end());
}

template <typename X>
int64_t run_typed(const void* a, const Params& p, void* out, int64_t out_f64, double* u, double* v,
                  int64_t threads) {
  const X* x = static_cast<const X*>(a);
  if (out_f64) return run_all(x, p, static_cast<double*>(out), u, v, threads);
  return run_all(x, p, static_cast<float*>(out), u, v, threads);
}

}  // namespace

extern "C" {

// a: (T, M) the synaptic input, integers of type atype (1 int32, 2 int64, 3 float32, 4 float64); role: 0
// Delta, 1 SigmaDelta, 2 Sigma; e = spike_exp + state_exp; bias: (M) bias << e (int64) or null; relu:
// SigmaDelta's activation (else unit); vth: vThMant << e; cum: cum_error; graded: else 0/1 is sent.
// out: (T, M) what is sent (float32, or float64 where out_f64); u, v: (T, M) sigma and act, or null.
// out_max[0]: the largest |out|.
void sdnn_forward(const void* a, int64_t atype, int64_t T, int64_t M, int64_t role, int64_t e,
                  const int64_t* bias, int64_t relu, int64_t vth, int64_t cum, int64_t state_exp,
                  int64_t graded, void* out, int64_t out_f64, double* u, double* v, int64_t* out_max,
                  int64_t threads) {
  const Params p{T, M, role, e, relu, vth, cum, state_exp, graded, bias};
  switch (atype) {
    case 1: out_max[0] = run_typed<int32_t>(a, p, out, out_f64, u, v, threads); break;
    case 2: out_max[0] = run_typed<int64_t>(a, p, out, out_f64, u, v, threads); break;
    case 3: out_max[0] = run_typed<float>(a, p, out, out_f64, u, v, threads); break;
    default: out_max[0] = run_typed<double>(a, p, out, out_f64, u, v, threads); break;
  }
}

}  // extern "C"
