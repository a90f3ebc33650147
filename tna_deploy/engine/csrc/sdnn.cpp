// Sigma-delta neurons (engine/neurons/sdnn.py: Lava's PyDeltaModelFixed, PySigmaDeltaModelFixed and
// PySigmaModelFixed) in one pass over the T steps, every neuron of every sample, neurons split over
// threads: the same integers as the torch path (tested). Every value is Lava's int32: sums wrap modulo 2^32
// (computed in uint32), numpy's abs keeps -2^31, and the shifts are arithmetic (floor). The torch path
// skips the wraps where a bound proves them idle; here they always run, which is the same where they are.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
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
// numpy's int32 abs: -2^31 stays -2^31 (two's complement, without a branch)
inline int32_t abs32(int32_t x) {
  const uint32_t m = static_cast<uint32_t>(x >> 31);
  return static_cast<int32_t>((static_cast<uint32_t>(x) ^ m) - m);
}
inline int32_t mask(bool c) { return -static_cast<int32_t>(c); }  // all ones where c
inline int32_t to32(int64_t x) { return static_cast<int32_t>(static_cast<uint32_t>(x)); }

// An input value's int32 wrap. Floats: an integer below 2^51 in magnitude (the caller converts wider
// ones to int64) is exact in y = x + 1.5 * 2^52, whose low mantissa bits are 2^51 + x: the low 32 are x
// mod 2^32 (a conversion that vectorizes, where double -> int64 does not).
inline int32_t in32(int32_t x) { return x; }
inline int32_t in32(int64_t x) { return to32(x); }
inline int32_t in32(double x) {
  const double y = x + 6755399441055744.0;
  uint64_t bits;
  std::memcpy(&bits, &y, sizeof bits);
  return static_cast<int32_t>(static_cast<uint32_t>(bits));
}
inline int32_t in32(float x) { return in32(static_cast<double>(x)); }

struct Params {
  int64_t T, M, role, e, relu, vth, cum, state_exp, graded;
  const int64_t* bias;  // (M) bias << e, or null
};

// Neurons [lo, hi) over every step. X: the input's type; Out: float or double; Role: 0 Delta, 1
// SigmaDelta, 2 Sigma; Cum: cum_error; Record: u, v written (a loop without branches otherwise).
template <typename X, typename Out, int Role, bool Cum, bool Record>
int64_t run_chunk(const X* a, const Params& p, int64_t lo, int64_t hi, Out* out, double* u, double* v) {
  int32_t sigma[kChunk] = {}, total[kChunk] = {}, error[kChunk] = {};
  int32_t bias[kChunk] = {};
  const int64_t n = hi - lo, M = p.M, T = p.T;
  if (p.bias)
    for (int64_t j = 0; j < n; ++j) bias[j] = to32(p.bias[lo + j]);
  const int32_t vth = static_cast<int32_t>(p.vth), floor = p.relu ? 0 : kMin;
  const uint32_t e = static_cast<uint32_t>(p.e);
  const int sx = static_cast<int>(p.state_exp);
  const int32_t keep = mask(p.graded != 0);
  uint32_t out_max = 0;  // |out| in uint32: |-2^31| is 2^31
  for (int64_t t = 0; t < T; ++t) {
    const int64_t base = t * M + lo;
    const X* at = a + base;
    Out* ot = out + base;
    double* ut = Record ? u + base : nullptr;
    double* vt = Record ? v + base : nullptr;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t in = in32(at[j]);
      int32_t sig, act, o;
      if (Role == 0) {  // Delta: x = a_in << e
        sig = act = static_cast<int32_t>(static_cast<uint32_t>(in) << e);
      } else {
        sig = sigma[j] = add32(sigma[j], in);
        act = Role == 1 ? std::max(add32(sig, bias[j]), floor) : sig;  // ReLU, or unit
      }
      if (Role == 2) {
        o = sig;
      } else {
        const int32_t delta = sub32(act, total[j]);
        int32_t s;
        if (Cum) {
          const int32_t err = add32(error[j], delta);
          s = delta & mask(abs32(err) >= vth);
          error[j] = err & mask(abs32(s) <= 0);  // reset where s != 0, but not for -2^31 (as torch)
        } else {
          s = delta & mask(abs32(delta) >= vth);
        }
        total[j] = add32(total[j], s);
        o = s >> sx;
      }
      o = (o & keep) | (int32_t(o != 0) & ~keep);  // graded, or 0/1
      out_max = std::max(out_max, static_cast<uint32_t>(abs32(o)));  // 2^31 for -2^31
      ot[j] = static_cast<Out>(o);
      if (Record) {
        ut[j] = static_cast<double>(sig);
        vt[j] = static_cast<double>(act);
      }
    }
  }
  return static_cast<int64_t>(out_max);
}

template <typename X, typename Out, int Role, bool Cum, bool Record>
int64_t run_all(const X* a, const Params& p, Out* out, double* u, double* v, int64_t threads) {
  const int64_t units = (p.M + kChunk - 1) / kChunk;
  std::atomic<int64_t> next(0);
  std::vector<int64_t> maxima(std::max<int64_t>(1, std::min(threads, units)), 0);
  auto work = [&](int64_t w) {
    for (int64_t unit = next++; unit < units; unit = next++) {
      const int64_t lo = unit * kChunk, hi = std::min(p.M, lo + kChunk);
      maxima[w] = std::max(maxima[w], run_chunk<X, Out, Role, Cum, Record>(a, p, lo, hi, out, u, v));
    }
  };
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < static_cast<int64_t>(maxima.size()); ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool) th.join();
  return *std::max_element(maxima.begin(), maxima.end());
}

template <typename X, typename Out, bool Record>
int64_t run_role(const X* a, const Params& p, Out* out, double* u, double* v, int64_t threads) {
  if (p.role == 2) return run_all<X, Out, 2, false, Record>(a, p, out, u, v, threads);
  if (p.role == 1)
    return p.cum ? run_all<X, Out, 1, true, Record>(a, p, out, u, v, threads)
                 : run_all<X, Out, 1, false, Record>(a, p, out, u, v, threads);
  return p.cum ? run_all<X, Out, 0, true, Record>(a, p, out, u, v, threads)
               : run_all<X, Out, 0, false, Record>(a, p, out, u, v, threads);
}

template <typename X, typename Out>
int64_t run_out(const X* a, const Params& p, Out* out, double* u, double* v, int64_t threads) {
  if (u && v) return run_role<X, Out, true>(a, p, out, u, v, threads);
  return run_role<X, Out, false>(a, p, out, u, v, threads);
}

template <typename X>
int64_t run_typed(const void* a, const Params& p, void* out, int64_t out_f64, double* u, double* v,
                  int64_t threads) {
  const X* x = static_cast<const X*>(a);
  if (out_f64) return run_out(x, p, static_cast<double*>(out), u, v, threads);
  return run_out(x, p, static_cast<float*>(out), u, v, threads);
}

}  // namespace

extern "C" {

// a: (T, M) the synaptic input, integers of type atype (1 int32, 2 int64, 3 float32, 4 float64; floats
// below 2^51 in magnitude); role: 0
// Delta, 1 SigmaDelta, 2 Sigma; e = spike_exp + state_exp; bias: (M) bias << e (int64) or null; relu:
// SigmaDelta's activation (else unit); vth: vThMant << e; cum: cum_error; graded: else 0/1 is sent.
// out: (T, M) what is sent (float32, or float64 where out_f64); u, v: (T, M) sigma and act, or both null.
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
