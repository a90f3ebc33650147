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
// inputs (contiguous per neuron) by a gather; a conv's output pixel runs through the window with its v (up to
// 64 lanes) in registers, its sums rebuilt at each step from the active inputs of the step's frame: each frame
// is packed to bits first, so a kernel row (KW * Cin contiguous bytes: no x dilation) is a run of bits whose set
// bits are its active inputs (or, for a row of at most 10 bytes, an index into a table of the row's subset
// sums, as in spike_layers.cpp). Layouts as in spike_layers.cpp: spikes uint8 (K, T, H, W, C).
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

// A frame's 0/1 bytes as bits, bit b of word b / 64 for byte b: the active inputs of any kernel row (KW * Cin
// bytes in a row, contiguous when the conv has no x dilation) are a run of bits, read 64 at a time.
inline void pack_bits(const uint8_t* x, int64_t n, uint64_t* bits) {
  int64_t b = 0;
  const __m256i zero = _mm256_setzero_si256();
  for (; b + 64 <= n; b += 64) {
    const uint32_t lo = ~static_cast<uint32_t>(_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b)), zero)));
    const uint32_t hi = ~static_cast<uint32_t>(_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b + 32)), zero)));
    bits[b >> 6] = static_cast<uint64_t>(lo) | static_cast<uint64_t>(hi) << 32;
  }
  if (b < n) {
    uint64_t w = 0;
    for (int64_t i = b; i < n; ++i) w |= static_cast<uint64_t>(x[i] != 0) << (i - b);
    bits[b >> 6] = w;
  }
}

// Bits [start, start + n) of a packed frame, n in 1..64 (the words hold one more word of room).
inline uint64_t bit_run(const uint64_t* bits, int64_t start, int64_t n) {
  const int64_t w = start >> 6, s = start & 63;
  const uint64_t r = (bits[w] >> s) | ((bits[w + 1] << 1) << (63 - s));  // no branch on s == 0
  return n >= 64 ? r : r & ((uint64_t(1) << n) - 1);
}

struct Conv {  // one unit's view of a conv_fast call
  const uint64_t* bits;   // the unit's packed frames (rows iy0..), frame t at bits + t * words
  int64_t words, T, Cout, Ow, lut_bits;
  const uint32_t* w;      // (KH, KW, Cin, Ow)
  const uint32_t* lut;    // (KH, 2^lut_bits, Ow) or null
  const int32_t* bias;    // (OH * OW, Ow) or null
  uint8_t* out;           // the unit's sample, frame 0
  int64_t out_frame;      // OH * OW * Cout
  IntLif p;
};

struct Taps {  // one output pixel's kernel rows inside the frame
  int32_t n;
  bool table;
  // row j: its bits [first[j], first[j] + len[j]) of the packed frame; row[j]: the weight row of its first bit
  // (table mode: the offset of its table, (ky << lut_bits) * Ow)
  int32_t first[64], len[64], row[64];
};

// Every step of output pixel `px` (its outputs at frame offset px * Cout of each output frame), lanes
// [b0, b0 + 8 NC): their v in registers from rest through the T steps, the last into vs.
template <int NC, bool kTable>
void pixel_steps(const Conv& c, const Taps& taps, int64_t px, int64_t b0, int32_t* vs) {
  __m256i v[NC], b[NC];
  const int32_t* bias = c.bias ? c.bias + px * c.Ow + b0 : nullptr;
  for (int i = 0; i < NC; ++i) {
    v[i] = _mm256_setzero_si256();
    b[i] = bias ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + 8 * i)) : _mm256_setzero_si256();
  }
  for (int64_t t = 0; t < c.T; ++t) {
    __m256i acc[NC];
    for (int i = 0; i < NC; ++i) acc[i] = _mm256_setzero_si256();
    const uint64_t* frame = c.bits + t * c.words;
    for (int32_t j = 0; j < taps.n; ++j) {
      if (kTable) {  // the row's subset of active inputs indexes its table of sums
        const uint32_t* wr = c.lut + taps.row[j] + bit_run(frame, taps.first[j], c.lut_bits) * c.Ow + b0;
        for (int i = 0; i < NC; ++i)
          acc[i] = _mm256_add_epi32(acc[i], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * i)));
        continue;
      }
      for (int64_t at = 0; at < taps.len[j]; at += 64) {  // the row's active inputs, 64 bits at a time
        uint64_t m = bit_run(frame, taps.first[j] + at, std::min<int64_t>(64, taps.len[j] - at));
        const uint32_t* w = c.w + (taps.row[j] + at) * c.Ow + b0;
        while (m) {
          const uint32_t* wr = w + static_cast<int64_t>(__builtin_ctzll(m)) * c.Ow;
          m &= m - 1;
          for (int i = 0; i < NC; ++i)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * i)));
        }
      }
    }
    uint8_t* o = c.out + t * c.out_frame + px * c.Cout + b0;
    for (int i = 0; i < NC; ++i) put(o + 8 * i, step8(_mm256_slli_epi32(acc[i], 6), v[i], b[i], c.p), c.Cout - b0 - 8 * i);
  }
  for (int i = 0; i < NC; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(vs + 8 * i), v[i]);
}

// Every step of an output pixel, all its lanes; vs: its last v (Ow lanes).
template <bool kTable>
void pixel_all(const Conv& c, const Taps& taps, int64_t px, int32_t* vs) {
  for (int64_t b0 = 0; b0 < c.Ow; b0 += 64) {  // 64 lanes at a time: the state and the sums in 16 registers
    int32_t* v = vs + b0;
    switch (std::min<int64_t>(8, (c.Ow - b0) / 8)) {
      case 1: pixel_steps<1, kTable>(c, taps, px, b0, v); break;
      case 2: pixel_steps<2, kTable>(c, taps, px, b0, v); break;
      case 3: pixel_steps<3, kTable>(c, taps, px, b0, v); break;
      case 4: pixel_steps<4, kTable>(c, taps, px, b0, v); break;
      case 5: pixel_steps<5, kTable>(c, taps, px, b0, v); break;
      case 6: pixel_steps<6, kTable>(c, taps, px, b0, v); break;
      case 7: pixel_steps<7, kTable>(c, taps, px, b0, v); break;
      default: pixel_steps<8, kTable>(c, taps, px, b0, v); break;
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

// An ungrouped conv without x dilation (iDecay 4096, bounds proven) and its neurons. in: 0/1 (K, T, IH, IW, Cin);
// w: (KH, KW, Cin, Ow), Ow a multiple of 8 >= Cout, zero-padded; out: (K, T, OH, OW, Cout). bias: int32 (OH * OW,
// Ow) or null; last_v: (K, OH * OW * Cout) or null. lut as in spike_layers.cpp's conv_forward (KH <= 64), used
// for the kernel rows inside the frame.
void conv_fast(const uint8_t* ip, int64_t K, int64_t T, int64_t IH, int64_t IW, int64_t Cin, const int32_t* wi,
               int64_t KH, int64_t KW, int64_t Cout, int64_t Ow, int64_t OH, int64_t OW, int64_t sy, int64_t sx,
               int64_t py, int64_t px, int64_t dy, int64_t dx, int64_t v_decay, int64_t has_threshold,
               int64_t fire_at, const int32_t* bp, uint8_t* op, double* lv, int64_t row_blocks, int64_t threads,
               const int32_t* lut) {
  (void)dx;  // 1: a kernel row is KW * Cin contiguous bytes of its input row
  const int64_t rb = std::max<int64_t>(1, std::min(row_blocks, OH));
  const int64_t rows_per = (OH + rb - 1) / rb, M = OH * OW * Cout, row_bits = KW * Cin;
  const IntLif p = make_int_lif(v_decay, has_threshold, fire_at);
  parallel_units(K * rb, threads, [&](int64_t unit) {
    const int64_t k = unit / rb, oy0 = (unit % rb) * rows_per, oy1 = std::min(OH, oy0 + rows_per);
    if (oy0 >= oy1) return;
    const int64_t iy0 = std::max<int64_t>(0, oy0 * sy - py);
    const int64_t iy1 = std::min<int64_t>(IH, (oy1 - 1) * sy - py + (KH - 1) * dy + 1);
    const int64_t n = std::max<int64_t>(0, iy1 - iy0) * IW * Cin, words = (n + 63) / 64 + 1;
    std::vector<uint64_t> bits(T * words, 0);
    const uint8_t* frames = ip + (k * T * IH + iy0) * IW * Cin;
    for (int64_t t = 0; t < T; ++t) pack_bits(frames + t * IH * IW * Cin, n, bits.data() + t * words);
    Conv c{bits.data(), words, T, Cout, Ow, row_bits, reinterpret_cast<const uint32_t*>(wi),
           reinterpret_cast<const uint32_t*>(lut), bp, op + k * T * M, M, p};
    std::vector<int32_t> vs(Ow);
    Taps tp;
    for (int64_t oy = oy0; oy < oy1; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {  // each output pixel through every step
        const int64_t ix0 = ox * sx - px, lo = std::max<int64_t>(ix0, 0), hi = std::min<int64_t>(ix0 + KW, IW);
        tp.n = 0;
        tp.table = lut && lo == ix0 && hi == ix0 + KW;
        for (int64_t ky = 0; ky < KH && hi > lo; ++ky) {
          const int64_t iy = oy * sy - py + ky * dy;
          if (iy < 0 || iy >= IH) continue;
          tp.first[tp.n] = static_cast<int32_t>(((iy - iy0) * IW + lo) * Cin);
          tp.len[tp.n] = static_cast<int32_t>((hi - lo) * Cin);
          tp.row[tp.n++] = static_cast<int32_t>(tp.table ? (ky << row_bits) * Ow : (ky * KW + lo - ix0) * Cin);
        }
        if (tp.table) pixel_all<true>(c, tp, oy * OW + ox, vs.data());
        else pixel_all<false>(c, tp, oy * OW + ox, vs.data());
        if (lv)
          for (int64_t o = 0; o < Cout; ++o) lv[k * M + (oy * OW + ox) * Cout + o] = vs[o];
      }
  });
}
#endif

}  // extern "C"
