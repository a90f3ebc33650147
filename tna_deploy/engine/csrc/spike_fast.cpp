// The fused spike layers in int32, eight neurons to an AVX2 register, for the layers whose bounds make int32
// exact (tna_deploy/engine/spike_path.py proves them and otherwise calls csrc/spike_layers.cpp's double
// kernels; these functions trust their arguments):
//   * the current forgets everything each step (iDecay 4096), so u is this step's a_in << 6;
//   * a_in << 6 lies in (-2^23, 2^23], so Lava's 24-bit wrap of u (and a conv's signed_clamp) changes nothing:
//     a conv's kernel sums at most 2^17 of positive and of negative weight magnitude; an input layer checks
//     its inputs lane by lane and runs the reference step (lif_one, double) on a lane that leaves the range;
//   * 0 <= 4096 - vDecay <= 4096 and |bias| < 2^30 (an integer), so v's every term fits: trunc(v * keep / 4096)
//     is exact as hi * keep + (lo * keep >> 12) of |v| = 4096 hi + lo, and the sum before the clip is < 2^31.
// That is lif_one's arithmetic (every double there is an exact integer below 2^53), so the same spikes.
//
// Each group of eight neurons runs all T steps with v in a register: an input layer's neurons read their T
// inputs (contiguous per neuron) by a gather; a conv's output pixel runs step by step through the window,
// its sums rebuilt at each step from the active inputs of the step's frame (or from a table of kernel-row
// subsets, as in spike_layers.cpp). Layouts as in spike_layers.cpp: spikes uint8 (K, T, H, W, C).
#include "spike_common.h"

#ifdef __AVX2__
namespace {

constexpr int32_t kVMax = (1 << 23) - 1;
constexpr int32_t kInMax = 1 << 17;  // an input lane in (-2^17, 2^17]: x << 6 in (-2^23, 2^23]

struct SpikeBytes {  // of[m]: the eight bytes (little-endian) of lane mask m, lane i's 0/1 in byte i
  uint64_t of[256];
  SpikeBytes() {
    for (int m = 0; m < 256; ++m) {
      of[m] = 0;
      for (int b = 0; b < 8; ++b) of[m] |= static_cast<uint64_t>((m >> b) & 1) << (8 * b);
    }
  }
};
const SpikeBytes kBytes;

struct IntLif {
  __m256i keep, low12, lo, hi, fire;  // fire: the least firing voltage minus 1 (fires iff v > fire)
  // keep = odd << (12 - shift) with odd < 2^8: trunc(v * keep / 4096) = trunc(v * odd / 2^shift), v * odd in int32
  bool small;
  __m256i odd, round;  // round: 2^shift - 1
  int shift;
};

IntLif make_int_lif(int64_t v_decay, int64_t has_threshold, int64_t fire_at) {
  // v lies in [-(2^23 - 1), 2^23 - 1] after the clip: a bound past it fires always or never alike
  const int64_t f = has_threshold ? std::min<int64_t>(std::max<int64_t>(fire_at, -(1 << 23)), 1 << 23) : 1 << 23;
  int64_t odd = 4096 - v_decay, shift = 12;
  while (odd && !(odd & 1) && shift) odd >>= 1, --shift;
  return IntLif{_mm256_set1_epi32(static_cast<int32_t>(4096 - v_decay)), _mm256_set1_epi32(4095),
                _mm256_set1_epi32(-kVMax), _mm256_set1_epi32(kVMax), _mm256_set1_epi32(static_cast<int32_t>(f - 1)),
                odd < 256, _mm256_set1_epi32(static_cast<int32_t>(odd)),
                _mm256_set1_epi32(static_cast<int32_t>((1 << shift) - 1)), static_cast<int>(shift)};
}

// trunc(v * keep / 4096) for |v| < 2^23, 0 <= keep <= 4096
inline __m256i decay(__m256i v, const IntLif& p) {
  if (p.small) {  // v * odd, rounded toward 0 by 2^shift: add 2^shift - 1 where negative, then shift
    const __m256i m = _mm256_mullo_epi32(v, p.odd);
    const __m256i up = _mm256_and_si256(_mm256_srai_epi32(m, 31), p.round);
    return _mm256_sra_epi32(_mm256_add_epi32(m, up), _mm_cvtsi32_si128(p.shift));
  }
  const __m256i a = _mm256_abs_epi32(v);
  const __m256i hi = _mm256_mullo_epi32(_mm256_srli_epi32(a, 12), p.keep);
  const __m256i lo = _mm256_srli_epi32(_mm256_mullo_epi32(_mm256_and_si256(a, p.low12), p.keep), 12);
  return _mm256_sign_epi32(_mm256_add_epi32(hi, lo), v);
}

// One step of eight neurons whose u is `a` (a_in << 6, in range): their spikes as a lane mask.
inline uint32_t step8(__m256i a, __m256i& v, __m256i bias, const IntLif& p) {
  __m256i vv = _mm256_add_epi32(_mm256_add_epi32(decay(v, p), a), bias);
  vv = _mm256_min_epi32(_mm256_max_epi32(vv, p.lo), p.hi);
  const __m256i f = _mm256_cmpgt_epi32(vv, p.fire);
  v = _mm256_andnot_si256(f, vv);
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(f)));
}

inline void put(uint8_t* s, uint32_t mask, int64_t lanes) {  // the first `lanes` (<= 8) spike bytes
  if (lanes >= 8) {
    std::memcpy(s, &kBytes.of[mask], 8);
    return;
  }
  for (int64_t i = 0; i < lanes; ++i) s[i] = static_cast<uint8_t>((mask >> i) & 1);
}

inline void store_v(__m256i v, double* out, int64_t lanes) {
  alignas(32) int32_t l[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l), v);
  for (int64_t i = 0; i < lanes && i < 8; ++i) out[i] = l[i];
}

// Bit b of the result: whether byte b of p[0, n) is set (bytes 0/1, n <= 31).
inline uint32_t row_mask(const uint8_t* p, int64_t n) {
  uint32_t m = 0;
  int64_t b = 0;
  for (; b + 8 <= n; b += 8) {  // eight 0/1 bytes to eight bits: the products land on distinct bits
    uint64_t w;
    std::memcpy(&w, p + b, 8);
    m |= static_cast<uint32_t>((w * 0x0102040810204080ull) >> 56) << b;
  }
  for (; b < n; ++b) m |= static_cast<uint32_t>(p[b]) << b;
  return m;
}

struct Conv {  // one unit's view of a conv_fast call
  const uint8_t* frames;  // the unit's sample, frame 0, input row iy0
  int64_t frame_bytes, pix, T, IW, Cin, Cout, Ow, bits;
  const uint32_t* w;      // (KH, KW, Cin, Ow)
  const uint32_t* lut;    // (KH, 2^bits, Ow) or null
  const int32_t* act;     // the active inputs of every frame (offsets q * Cin + channel), by frame then pixel
  const int32_t* start;   // frame t, pixel q's from start[t * (pix + 1) + q]
  const int32_t* bias;    // (OH * OW, Ow) or null
  uint8_t* out;           // the unit's sample, frame 0
  int64_t out_frame;      // OH * OW * Cout
  IntLif p;
};

struct Taps {  // one output pixel's kernel taps
  int32_t n;
  bool table;
  // q: the tap's input pixel, off: its first weight row minus q * Cin (an active input's offset plus off is
  // its weight row); table mode: q = the row's first input byte in the frame, off = (ky << bits) * Ow
  int32_t q[64], off[64];
};

// One step (frame t) of output pixel `at` (frame offset of its outputs), lanes [b0, b0 + 8 NC); vs: their v.
template <int NC, bool kTable>
void pixel_step(const Conv& c, const Taps& taps, int64_t t, int64_t at, int64_t b0, int32_t* vs, int32_t* rows) {
  __m256i acc[NC];
  for (int i = 0; i < NC; ++i) acc[i] = _mm256_setzero_si256();
  if (kTable) {
    const uint8_t* frame = c.frames + t * c.frame_bytes;
    for (int32_t j = 0; j < taps.n; ++j) {
      const uint32_t* wr = c.lut + taps.off[j] + row_mask(frame + taps.q[j], c.bits) * c.Ow + b0;
      for (int i = 0; i < NC; ++i)
        acc[i] = _mm256_add_epi32(acc[i], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * i)));
    }
  } else {  // the weight rows of the active inputs of every tap, listed first: one loop over them all
    const int32_t* st = c.start + t * (c.pix + 1);
    int64_t n = 0;
    for (int32_t j = 0; j < taps.n; ++j) {
      const int32_t* ev = c.act + st[taps.q[j]];
      const int64_t count = st[taps.q[j] + 1] - st[taps.q[j]];
      const __m256i shift = _mm256_set1_epi32(taps.off[j]);
      for (int64_t e = 0; e < count || e == 0; e += 8)  // eight at a time (act and rows have the room)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + n + e),
                            _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ev + e)), shift));
      n += count;
    }
    const uint32_t* w = c.w + b0;
    for (int64_t e = 0; e < n; ++e) {
      const uint32_t* wr = w + static_cast<int64_t>(rows[e]) * c.Ow;
      for (int i = 0; i < NC; ++i)
        acc[i] = _mm256_add_epi32(acc[i], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * i)));
    }
  }
  uint8_t* o = c.out + t * c.out_frame + at + b0;
  const int32_t* bias = c.bias ? c.bias + (at / c.Cout) * c.Ow + b0 : nullptr;
  for (int i = 0; i < NC; ++i) {
    const __m256i b = bias ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + 8 * i))
                           : _mm256_setzero_si256();
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vs + 8 * i));
    put(o + 8 * i, step8(_mm256_slli_epi32(acc[i], 6), v, b, c.p), c.Cout - b0 - 8 * i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(vs + 8 * i), v);
  }
}

// One step of an output pixel, all its lanes; vs: its v (Ow lanes); rows: room for every tap's inputs and 8 more.
template <bool kTable>
void pixel_all(const Conv& c, const Taps& taps, int64_t t, int64_t at, int32_t* vs, int32_t* rows) {
  for (int64_t b0 = 0; b0 < c.Ow; b0 += 64) {  // 64 lanes at a time: the sums in 8 registers
    int32_t* v = vs + b0;
    switch (std::min<int64_t>(8, (c.Ow - b0) / 8)) {
      case 1: pixel_step<1, kTable>(c, taps, t, at, b0, v, rows); break;
      case 2: pixel_step<2, kTable>(c, taps, t, at, b0, v, rows); break;
      case 3: pixel_step<3, kTable>(c, taps, t, at, b0, v, rows); break;
      case 4: pixel_step<4, kTable>(c, taps, t, at, b0, v, rows); break;
      case 5: pixel_step<5, kTable>(c, taps, t, at, b0, v, rows); break;
      case 6: pixel_step<6, kTable>(c, taps, t, at, b0, v, rows); break;
      case 7: pixel_step<7, kTable>(c, taps, t, at, b0, v, rows); break;
      default: pixel_step<8, kTable>(c, taps, t, at, b0, v, rows); break;
    }
  }
}

constexpr int64_t kTrainSlots = 1024;  // a power of 2

struct Trains {  // a cache of spike trains of a constant drive: (x, bias) -> the T steps' spikes and the last v
  std::vector<int64_t> key;
  std::vector<uint32_t> spikes;
  std::vector<double> v;
  explicit Trains(int64_t slots)
      : key(slots, std::numeric_limits<int64_t>::min()), spikes(slots), v(slots) {}
};

// Eight input neurons (x rows src[i] * T, bias rows src[i]) whose every input through the window equals its first
// (x null: all 0), in range: the reference step's spikes (a function of the pair (x, bias) alone) from the
// cache, computed on a miss; false (nothing written) where some lane's inputs change or leave the range.
bool constant_window(Trains& c, const int32_t* xk, const int32_t* bk, const int32_t* src, int64_t T, const Lif& ref,
                     uint8_t* out, int64_t N, int64_t lanes, double* lv) {
  alignas(32) int32_t x0[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (xk)
    for (int i = 0; i < 8; ++i) {
      const int32_t* row = xk + static_cast<int64_t>(src[i]) * T;
      const __m256i first = _mm256_set1_epi32(row[0]);
      int64_t t = 0;
      for (; t + 8 <= T; t += 8)
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + t)),
                                                    first)) != -1)
          return false;
      for (; t < T; ++t)
        if (row[t] != row[0]) return false;
      if (row[0] > kInMax || row[0] <= -kInMax) return false;
      x0[i] = row[0];
    }
  alignas(32) uint32_t spikes[8];
  double last[8];
  const int64_t slots = static_cast<int64_t>(c.key.size());
  for (int i = 0; i < 8; ++i) {
    const int32_t b = bk ? bk[src[i]] : 0;
    const int64_t key = (static_cast<int64_t>(x0[i]) << 32) | static_cast<uint32_t>(b);
    const int64_t slot = static_cast<int64_t>((static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> 40) & (slots - 1);
    if (c.key[slot] != key) {
      double u = 0.0, v = 0.0;
      uint32_t train = 0;
      for (int64_t t = 0; t < T; ++t) train |= static_cast<uint32_t>(lif_one(shl6_int32(x0[i]), u, v, b, ref)) << t;
      c.key[slot] = key, c.spikes[slot] = train, c.v[slot] = v;
    }
    spikes[i] = c.spikes[slot];
    last[i] = c.v[slot];
  }
  const __m256i trains = _mm256_load_si256(reinterpret_cast<const __m256i*>(spikes));
  for (int64_t t = 0; t < T; ++t) {  // step t's spikes: bit t of each lane's train, moved to the sign bit
    const __m256i at_sign = _mm256_sll_epi32(trains, _mm_cvtsi32_si128(static_cast<int>(31 - t)));
    put(out + t * N, static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(at_sign))), lanes);
  }
  if (lv)
    for (int64_t i = 0; i < lanes; ++i) lv[src[i]] = last[i];
  return true;
}

}  // namespace
#endif

extern "C" {

// 1 where this build has the int32 kernels (AVX2), else 0 (spike_path.py then calls the double kernels).
int64_t fast_kernels() {
#ifdef __AVX2__
  return 1;
#else
  return 0;
#endif
}

#ifdef __AVX2__
// An input layer's neurons (iDecay 4096) driven by integer inputs. x: (K, C, HW, T) int32, the file's (C, H, W)
// order, or null (all 0); N * T < 2^31. bias: int32 (C * HW), or (K, C * HW) when bias_k == C * HW, or null.
// out: (K, T, HW, C); last_v: (K, C * HW) in x's order, or null.
void input_fast(const int32_t* xp, int64_t K, int64_t C, int64_t HW, int64_t T, int64_t v_decay,
                int64_t has_threshold, int64_t fire_at, const int32_t* bp, int64_t bias_k, uint8_t* op,
                double* lv, int64_t threads) {
  const IntLif p = make_int_lif(v_decay, has_threshold, fire_at);
  const Lif ref = make_lif(4096, v_decay, has_threshold != 0, fire_at);
  const int64_t N = C * HW, per = 8192, blocks = (N + per - 1) / per;
  const __m256i top = _mm256_set1_epi32(kInMax), bottom = _mm256_set1_epi32(-kInMax + 1);
  parallel_units(K * blocks, threads, [&](int64_t unit) {
    const int64_t k = unit / blocks, n0 = (unit % blocks) * per, n1 = std::min(N, n0 + per);
    const int32_t* xk = xp ? xp + k * N * T : nullptr;
    const int32_t* bk = bp ? bp + k * bias_k : nullptr;
    uint8_t* ok = op + k * T * N;
    alignas(32) int32_t src[8];
    Trains trains(T <= 32 ? kTrainSlots : 0);
    int64_t c = n0 % C, j = n0 / C;  // neuron g's channel and pixel
    for (int64_t g = n0; g < n1; g += 8) {  // neurons g.. in the output's (HW, C) order
      const int64_t lanes = std::min<int64_t>(8, n1 - g);
      for (int64_t i = 0; i < 8; ++i) {
        if (i < lanes) src[i] = static_cast<int32_t>(c * HW + j);
        else src[i] = src[lanes - 1];
        if (i < lanes && ++c == C) c = 0, ++j;
      }
      if (T <= 32 && constant_window(trains, xk, bk, src, T, ref, ok + g, N, lanes, lv ? lv + k * N : nullptr))
        continue;
      const __m256i at = _mm256_load_si256(reinterpret_cast<const __m256i*>(src));
      const __m256i idx = _mm256_mullo_epi32(at, _mm256_set1_epi32(static_cast<int32_t>(T)));
      const __m256i b = bk ? _mm256_i32gather_epi32(bk, at, 4) : _mm256_setzero_si256();
      __m256i v = _mm256_setzero_si256(), bad = _mm256_setzero_si256();
      for (int64_t t = 0; t < T; ++t) {
        __m256i a = _mm256_setzero_si256();
        if (xk) {
          a = _mm256_i32gather_epi32(xk + t, idx, 4);
          bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi32(a, top), _mm256_cmpgt_epi32(bottom, a)));
        }
        put(ok + t * N + g, step8(_mm256_slli_epi32(a, 6), v, b, p), lanes);
      }
      if (!_mm256_testz_si256(bad, bad)) {  // some input leaves the range: the reference step, lane by lane
        for (int64_t i = 0; i < lanes; ++i) {
          double u = 0.0, vv = 0.0;
          const double bias = bk ? static_cast<double>(bk[src[i]]) : 0.0;
          for (int64_t t = 0; t < T; ++t)
            ok[t * N + g + i] = lif_one(shl6_int32(xk[static_cast<int64_t>(src[i]) * T + t]), u, vv, bias, ref);
          if (lv) lv[k * N + src[i]] = vv;
        }
      } else if (lv) {
        alignas(32) int32_t l[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(l), v);
        for (int64_t i = 0; i < lanes; ++i) lv[k * N + src[i]] = l[i];
      }
    }
  });
}

// An ungrouped conv (iDecay 4096, bounds proven) and its neurons. in: 0/1 (K, T, IH, IW, Cin); w: (KH, KW, Cin,
// Ow), Ow a multiple of 8 >= Cout, zero-padded; out: (K, T, OH, OW, Cout). bias: int32 (OH * OW, Ow) or null;
// last_v: (K, OH * OW * Cout) or null. lut as in spike_layers.cpp's conv_forward (KH * KW <= 64).
void conv_fast(const uint8_t* ip, int64_t K, int64_t T, int64_t IH, int64_t IW, int64_t Cin, const int32_t* wi,
               int64_t KH, int64_t KW, int64_t Cout, int64_t Ow, int64_t OH, int64_t OW, int64_t sy, int64_t sx,
               int64_t py, int64_t px, int64_t dy, int64_t dx, int64_t v_decay, int64_t has_threshold,
               int64_t fire_at, const int32_t* bp, uint8_t* op, double* lv, int64_t row_blocks, int64_t threads,
               const int32_t* lut) {
  const int64_t rb = std::max<int64_t>(1, std::min(row_blocks, OH));
  const int64_t rows_per = (OH + rb - 1) / rb, M = OH * OW * Cout, bits = KW * Cin;
  // whether some output pixel's kernel rows leave the frame along x (those gather the active inputs)
  const bool edges = !lut || px > 0 || (OW - 1) * sx - px + KW > IW;
  const IntLif p = make_int_lif(v_decay, has_threshold, fire_at);
  parallel_units(K * rb, threads, [&](int64_t unit) {
    const int64_t k = unit / rb, oy0 = (unit % rb) * rows_per, oy1 = std::min(OH, oy0 + rows_per);
    if (oy0 >= oy1) return;
    const int64_t iy0 = std::max<int64_t>(0, oy0 * sy - py);
    const int64_t iy1 = std::min<int64_t>(IH, (oy1 - 1) * sy - py + (KH - 1) * dy + 1);
    const int64_t pix = std::max<int64_t>(0, iy1 - iy0) * IW;
    Conv c{ip + (k * T * IH + iy0) * IW * Cin, IH * IW * Cin, pix, T, IW, Cin, Cout, Ow, bits,
           reinterpret_cast<const uint32_t*>(wi), reinterpret_cast<const uint32_t*>(lut), nullptr, nullptr, bp,
           op + k * T * M, M, p};
    std::vector<int32_t> act, start;
    if (edges) {
      start.resize(T * (pix + 1));
      int64_t total = 0;
      for (int64_t t = 0; t < T; ++t) {
        act.resize(total + pix * Cin);
        const int64_t na = nonzero(c.frames + t * c.frame_bytes, pix * Cin, act.data() + total);
        int32_t* st = start.data() + t * (pix + 1);
        for (int64_t q = 0, e = 0; q <= pix; ++q) {
          while (e < na && act[total + e] < q * Cin) ++e;
          st[q] = static_cast<int32_t>(total + e);
        }
        total += na;
      }
      act.resize(total + 8);  // the lists are read eight at a time
      c.act = act.data();
      c.start = start.data();
    }
    std::vector<int32_t> rows(KH * KW * Cin + 8), vrow(OW * Ow);
    std::vector<Taps> taps(OW);
    for (int64_t oy = oy0; oy < oy1; ++oy) {  // a row of outputs step by step: its v (vrow) stays in cache
      for (int64_t ox = 0; ox < OW; ++ox) {
        Taps& tp = taps[ox];
        const int64_t ix0 = ox * sx - px;
        tp.n = 0;
        tp.table = lut && ix0 >= 0 && ix0 + KW <= IW;
        for (int64_t ky = 0; ky < KH; ++ky) {
          const int64_t iy = oy * sy - py + ky * dy;
          if (iy < 0 || iy >= IH) continue;
          if (tp.table) {  // one table row per kernel row
            tp.q[tp.n] = static_cast<int32_t>(((iy - iy0) * IW + ix0) * Cin);
            tp.off[tp.n++] = static_cast<int32_t>((ky << bits) * Ow);
            continue;
          }
          for (int64_t kx = 0; kx < KW; ++kx) {
            const int64_t ix = ix0 + kx * dx;
            if (ix < 0 || ix >= IW) continue;
            const int64_t q = (iy - iy0) * IW + ix;
            tp.q[tp.n] = static_cast<int32_t>(q);
            tp.off[tp.n++] = static_cast<int32_t>((ky * KW + kx) * Cin - q * Cin);
          }
        }
      }
      std::fill(vrow.begin(), vrow.end(), 0);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t at = (oy * OW + ox) * Cout;
          if (taps[ox].table) pixel_all<true>(c, taps[ox], t, at, vrow.data() + ox * Ow, rows.data());
          else pixel_all<false>(c, taps[ox], t, at, vrow.data() + ox * Ow, rows.data());
        }
      if (lv)
        for (int64_t ox = 0; ox < OW; ++ox)
          for (int64_t o = 0; o < Cout; ++o) lv[k * M + (oy * OW + ox) * Cout + o] = vrow[ox * Ow + o];
    }
  });
}
#endif

}  // extern "C"
