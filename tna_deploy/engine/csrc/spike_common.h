// What the fused spike layers' two sources share (csrc/spike_layers.cpp: the double-arithmetic kernels that
// take every network the fast path accepts; csrc/spike_fast.cpp: the int32 kernels for layers whose bounds
// are proven): the reference neuron step, the active-input scan and the thread pool.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>
#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace {

constexpr double kUMax = 8388608.0;  // 2^23

struct Lif {
  double ku, kv, fire;  // decays as keep / 4096; the least voltage that fires (infinity: never)
};

// One step of neuron j (the reference: cuba.cpp's forward_chunk, LOIHI flavor); a_in << 6 is `a`.
inline uint8_t lif_one(double a, double& u, double& v, double bias, const Lif& p) {
  double uu = std::trunc(u * p.ku) + a;
  const double w = uu > kUMax ? uu - 2 * kUMax : uu;
  uu = w <= -kUMax ? uu + 2 * kUMax : w;
  u = uu;
  double vv = std::trunc(v * p.kv) + uu + bias;
  vv = std::min(std::max(vv, -(kUMax - 1)), kUMax - 1);
  const bool fire = vv >= p.fire;
  v = fire ? 0.0 : vv;
  return static_cast<uint8_t>(fire);
}

inline int32_t shl6_int32(int64_t a) {  // np.left_shift(int32 a, 6): two's-complement wrap
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(a) << 6));
}

Lif make_lif(int64_t i_decay, int64_t v_decay, bool has_threshold, int64_t fire_at) {
  return Lif{static_cast<double>(4096 - i_decay) / 4096.0, static_cast<double>(4096 - v_decay) / 4096.0,
             has_threshold ? static_cast<double>(fire_at) : std::numeric_limits<double>::infinity()};
}

// The offsets of the nonzero bytes of x[0, n), in order, into act; returns how many.
inline int64_t nonzero(const uint8_t* x, int64_t n, int32_t* act) {
  int64_t na = 0, b = 0;
#ifdef __AVX2__
  const __m256i zero = _mm256_setzero_si256();
  for (; b + 32 <= n; b += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b));
    uint32_t mask = ~static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero)));
    while (mask) {
      act[na++] = static_cast<int32_t>(b + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
#endif
  for (; b < n; ++b)
    if (x[b]) act[na++] = static_cast<int32_t>(b);
  return na;
}

// Runs fn(unit) for unit in [0, units) on `threads` threads, each taking the next unit when done.
template <typename Fn>
void parallel_units(int64_t units, int64_t threads, Fn fn) {
  std::atomic<int64_t> next(0);
  auto work = [&]() {
    for (int64_t unit = next++; unit < units; unit = next++) fn(unit);
  };
  const int64_t n = std::max<int64_t>(1, std::min(threads, units));
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < n; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

}  // namespace
