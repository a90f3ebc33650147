// Whole layers of Lava's bit-accurate Loihi 2 model for 0/1 spike inputs, synapse and neuron fused, on CPU:
// the emulator's fast path (tna_deploy/engine/spike_path.py states when it applies and checks every shape;
// these functions trust their arguments). Every sum is an exact integer: conv sums accumulate in 32-bit two's
// complement and are wrapped to 24 bits (Lava's signed_clamp, which the 32-bit wrap-around does not change);
// dense sums stay below 2^31 (checked by the caller) and are floored by 2^weight_exp; a_in << 6 wraps in int32
// as numpy does. The neuron is the LOIHI flavor of csrc/cuba.cpp's forward_chunk (the same double arithmetic
// in the same order), one step at a time; csrc/spike_fast.cpp holds int32 kernels for the layers whose bounds
// make int32 exact (spike_path.py chooses).
//
// Layouts: spikes are uint8 (K, T, H, W, C), each sample's window after another, channels last, so that one
// input pixel's channels are contiguous; a layer's neurons run in that (H, W, C) order.
//
// A plain shared library (no torch headers: it compiles in seconds), loaded through ctypes by
// tna_deploy/engine/spike_ext.py; work is split over `threads` std::threads.
#include "spike_common.h"

namespace {

// One step of n neurons: a_in << 6 in `ai`; u, v: their state; bias (state units) or null; s: their spikes.
// The AVX2 body is lif_one on four neurons at once (the same operations, so the same doubles).
// kFresh: the current forgets everything each step (iDecay 4096): u is this step's a_in, not kept.
template <bool kFresh>
inline void lif_step_t(const int32_t* __restrict ai, int64_t n, double* __restrict u, double* __restrict v,
                       const double* __restrict bias, uint8_t* __restrict s, const Lif& p) {
  int64_t j = 0;
#ifdef __AVX2__
  const __m256d ku = _mm256_set1_pd(p.ku), kv = _mm256_set1_pd(p.kv), fire = _mm256_set1_pd(p.fire);
  const __m256d umax = _mm256_set1_pd(kUMax), numax = _mm256_set1_pd(-kUMax), two = _mm256_set1_pd(2 * kUMax);
  const __m256d lo = _mm256_set1_pd(-(kUMax - 1)), hi = _mm256_set1_pd(kUMax - 1);
  constexpr int kTrunc = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
  for (; j + 4 <= n; j += 4) {
    const __m256d a = _mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ai + j)));
    __m256d uu = kFresh ? a : _mm256_add_pd(_mm256_round_pd(_mm256_mul_pd(_mm256_loadu_pd(u + j), ku), kTrunc), a);
    const __m256d w = _mm256_blendv_pd(uu, _mm256_sub_pd(uu, two), _mm256_cmp_pd(uu, umax, _CMP_GT_OQ));
    uu = _mm256_blendv_pd(w, _mm256_add_pd(uu, two), _mm256_cmp_pd(w, numax, _CMP_LE_OQ));
    if (!kFresh) _mm256_storeu_pd(u + j, uu);
    __m256d vv = _mm256_add_pd(_mm256_round_pd(_mm256_mul_pd(_mm256_loadu_pd(v + j), kv), kTrunc), uu);
    if (bias) vv = _mm256_add_pd(vv, _mm256_loadu_pd(bias + j));
    vv = _mm256_min_pd(_mm256_max_pd(vv, lo), hi);
    const __m256d f = _mm256_cmp_pd(vv, fire, _CMP_GE_OQ);
    _mm256_storeu_pd(v + j, _mm256_andnot_pd(f, vv));
    const int m = _mm256_movemask_pd(f);
    const uint32_t bytes = (m & 1) | ((m & 2) << 7) | ((m & 4) << 14) | ((m & 8) << 21);
    std::memcpy(s + j, &bytes, 4);  // little-endian: neuron j's spike in the first byte
  }
#endif
  for (; j < n; ++j) s[j] = lif_one(static_cast<double>(ai[j]), u[j], v[j], bias ? bias[j] : 0.0, p);
}

inline void lif_step(const int32_t* ai, int64_t n, double* u, double* v, const double* bias, uint8_t* s,
                     const Lif& p) {
  // trunc(u * 0) + a == a for every u: the same values without reading u
  if (p.ku == 0.0) lif_step_t<true>(ai, n, u, v, bias, s, p);
  else lif_step_t<false>(ai, n, u, v, bias, s, p);
}

// The sums of one output pixel over output lanes [0, 8 * NC): for every tap, the weight rows (width ow) of its
// active inputs, at w + offsets[tap] + active * ow for each active in actives[tap][0, counts[tap]). uint32 lanes:
// two's-complement wrap, as the caller wants.
template <int NC>
inline void gather(int64_t taps, const int32_t* const* actives, const int32_t* counts, const int64_t* offsets,
                   const uint32_t* w, int64_t ow, uint32_t* out) {
#ifdef __AVX2__
  __m256i a[NC];
  for (int c = 0; c < NC; ++c) a[c] = _mm256_setzero_si256();
  for (int64_t tap = 0; tap < taps; ++tap) {
    const int32_t* l = actives[tap];
    const uint32_t* base = w + offsets[tap];
    for (int32_t e = 0; e < counts[tap]; ++e) {
      const uint32_t* wr = base + static_cast<int64_t>(l[e]) * ow;
      for (int c = 0; c < NC; ++c)
        a[c] = _mm256_add_epi32(a[c], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * c)));
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * c), a[c]);
#else
  std::fill(out, out + 8 * NC, 0u);
  for (int64_t tap = 0; tap < taps; ++tap)
    for (int32_t e = 0; e < counts[tap]; ++e) {
      const uint32_t* wr = w + offsets[tap] + static_cast<int64_t>(actives[tap][e]) * ow;
      for (int o = 0; o < 8 * NC; ++o) out[o] += wr[o];
    }
#endif
}

}  // namespace

extern "C" {

// An input layer's neurons driven by integer inputs. x: (K, C, HW, T), the file's (C, H, W) order; out: (K, T, HW, C).
// bias: (C * HW), or (K, C * HW) when bias_k == C * HW, or null. last_v: (K, C * HW) in x's order, or null.
void input_forward(const int32_t* xp, int64_t K, int64_t C, int64_t HW, int64_t T, int64_t i_decay,
                   int64_t v_decay, int64_t has_threshold, int64_t fire_at, const double* bp, int64_t bias_k,
                   uint8_t* op, double* lv, int64_t threads) {
  const Lif p = make_lif(i_decay, v_decay, has_threshold != 0, fire_at);
  const int64_t B = std::max<int64_t>(1, std::min<int64_t>(HW, 1024 / C + 1));  // pixels per unit, all channels
  const int64_t blocks = (HW + B - 1) / B, N = C * HW;
  parallel_units(K * blocks, threads, [&](int64_t unit) {
    const int64_t k = unit / blocks, hw0 = (unit % blocks) * B, n = std::min(B, HW - hw0), m = C * n;
    std::vector<int32_t> a(m * T);
    std::vector<double> u(m, 0.0), v(m, 0.0), b(bp ? m : 0);
    std::vector<uint8_t> s(m);
    for (int64_t c = 0; c < C; ++c) {  // neuron c * n + j is channel c of pixel hw0 + j
      const int32_t* xc = xp + ((k * C + c) * HW + hw0) * T;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t t = 0; t < T; ++t) a[t * m + c * n + j] = shl6_int32(xc[j * T + t]);
      if (bp) std::copy(bp + k * bias_k + c * HW + hw0, bp + k * bias_k + c * HW + hw0 + n, b.data() + c * n);
    }
    for (int64_t t = 0; t < T; ++t) {
      lif_step(a.data() + t * m, m, u.data(), v.data(), bp ? b.data() : nullptr, s.data(), p);
      uint8_t* o = op + ((k * T + t) * HW + hw0) * C;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < C; ++c) o[j * C + c] = s[c * n + j];
    }
    if (lv)
      for (int64_t c = 0; c < C; ++c) std::copy(v.data() + c * n, v.data() + (c + 1) * n, lv + k * N + c * HW + hw0);
  });
}

// A conv (dense: a 1x1 conv of a 1x1 frame) and its neurons. in: 0/1 (K, T, IH, IW, Cin);
// w: (G, KH, KW, Cin/G, Ow), each group's Og outputs first in rows of Ow >= Og (ungrouped with Ow a multiple of
// 8: the vector path); out: (K, T, OH, OW, G * Og). dense: floor(sum * 2^weight_exp) instead of the 24-bit
// wrap. bias: (OH * OW * G * Og) or null; last_v: (K, OH * OW * G * Og) or null. row_blocks: each sample's
// output rows are split into this many independent pieces (units of parallel work). lut (or null): for an
// ungrouped conv with dilation 1 along x whose kernel rows span KW * Cin <= 10 input bytes, (KH, 2^(KW * Cin), Ow):
// the sums of every subset of one kernel row's weights, indexed by the row's input bits; an output pixel whose
// kernel rows lie inside the frame then sums KH table rows instead of the active inputs' weight rows.
void conv_forward(const uint8_t* ip, int64_t K, int64_t T, int64_t IH, int64_t IW, int64_t Cin, const int32_t* wi,
                  int64_t G, int64_t KH, int64_t KW, int64_t Cg, int64_t Og, int64_t Ow, int64_t OH, int64_t OW,
                  int64_t sy, int64_t sx, int64_t py, int64_t px, int64_t dy, int64_t dx, int64_t dense,
                  int64_t weight_exp, int64_t i_decay, int64_t v_decay, int64_t has_threshold, int64_t fire_at,
                  const double* bp, uint8_t* op, double* lv, int64_t row_blocks, int64_t threads,
                  const int32_t* lut) {
  const int64_t Cout = G * Og;
  const uint32_t* wp = reinterpret_cast<const uint32_t*>(wi);
  const Lif p = make_lif(i_decay, v_decay, has_threshold != 0, fire_at);
  const int64_t rb = std::max<int64_t>(1, std::min(row_blocks, OH));
  const int64_t rows_per = (OH + rb - 1) / rb;
  const int64_t M = OH * OW * Cout;
  const bool vector = G == 1 && Ow % 8 == 0;
  const int64_t bits = KW * Cin;
  const uint32_t* lut_w = reinterpret_cast<const uint32_t*>(lut);
  // whether some output pixel's kernel rows leave the frame along x (those gather the active inputs)
  const bool edges = !lut || px > 0 || (OW - 1) * sx - px + KW > IW;
  parallel_units(K * rb, threads, [&](int64_t unit) {
    const int64_t k = unit / rb, oy0 = (unit % rb) * rows_per, oy1 = std::min(OH, oy0 + rows_per);
    if (oy0 >= oy1) return;
    const int64_t iy0 = std::max<int64_t>(0, oy0 * sy - py);
    const int64_t iy1 = std::min<int64_t>(IH, (oy1 - 1) * sy - py + (KH - 1) * dy + 1);
    const int64_t pix = std::max<int64_t>(0, iy1 - iy0) * IW;
    std::vector<int32_t> act(pix * Cin), start(pix + 1);
    std::vector<uint32_t> acc(G * Ow);
    std::vector<int32_t> ai(Cout);
    std::vector<const int32_t*> tap_act(KH * KW);
    std::vector<int32_t> tap_count(KH * KW);
    std::vector<int64_t> tap_off(KH * KW), off_b(KH * KW), tap_q(KH * KW), tap_kk(KH * KW);
    std::vector<int32_t> masks(KH);
    const int64_t m = (oy1 - oy0) * OW * Cout;
    std::vector<double> u(m, 0.0), v(m, 0.0);
    for (int64_t t = 0; t < T; ++t) {
      // the active inputs of the rows these outputs read, as offsets q * Cin + channel; pixel q's from start[q]
      const uint8_t* frame = ip + ((k * T + t) * IH + iy0) * IW * Cin;
      if (edges) {
        const int64_t na = nonzero(frame, pix * Cin, act.data());
        for (int64_t q = 0, e = 0; q <= pix; ++q) {
          while (e < na && act[e] < q * Cin) ++e;
          start[q] = static_cast<int32_t>(e);
        }
      }
      uint8_t* oframe = op + (k * T + t) * M;
      for (int64_t oy = oy0; oy < oy1; ++oy) {
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t taps = 0;
          const uint32_t* table = wp;
          const int64_t ix0 = ox * sx - px;
          if (lut && ix0 >= 0 && ix0 + KW <= IW) {  // one table row per kernel row
            table = lut_w;
            for (int64_t ky = 0; ky < KH; ++ky) {
              const int64_t iy = oy * sy - py + ky * dy;
              if (iy < 0 || iy >= IH) continue;
              const uint8_t* run = frame + ((iy - iy0) * IW + ix0) * Cin;
              int32_t mask = 0;
              for (int64_t b = 0; b < bits; ++b) mask |= static_cast<int32_t>(run[b] != 0) << b;
              masks[taps] = mask;
              tap_act[taps] = masks.data() + taps;
              tap_count[taps] = 1;
              tap_off[taps] = (ky << bits) * Ow;
              ++taps;
            }
          } else
          for (int64_t ky = 0; ky < KH; ++ky) {
            const int64_t iy = oy * sy - py + ky * dy;
            if (iy < 0 || iy >= IH) continue;
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t ix = ox * sx - px + kx * dx;
              if (ix < 0 || ix >= IW) continue;
              const int64_t q = (iy - iy0) * IW + ix;
              tap_act[taps] = act.data() + start[q];
              tap_count[taps] = start[q + 1] - start[q];
              tap_off[taps] = ((ky * KW + kx) * Cg - q * Cin) * Ow;  // + active * Ow: its channel's row
              tap_q[taps] = q;
              tap_kk[taps] = ky * KW + kx;
              ++taps;
            }
          }
          if (vector) {
            for (int64_t b = 0; b < Ow; b += 64) {  // 64 lanes at a time: 8 AVX2 registers
              const int64_t nc = std::min<int64_t>(8, (Ow - b) / 8);
              const int64_t* offs = tap_off.data();
              if (b) {
                for (int64_t i = 0; i < taps; ++i) off_b[i] = tap_off[i] + b;
                offs = off_b.data();
              }
              switch (nc) {
                case 1: gather<1>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 2: gather<2>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 3: gather<3>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 4: gather<4>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 5: gather<5>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 6: gather<6>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                case 7: gather<7>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
                default: gather<8>(taps, tap_act.data(), tap_count.data(), offs, table, Ow, acc.data() + b); break;
              }
            }
          } else {  // grouped (pools): each active channel adds to its own group's outputs
            std::fill(acc.begin(), acc.end(), 0u);
            for (int64_t tap = 0; tap < taps; ++tap)
              for (int32_t e = 0; e < tap_count[tap]; ++e) {  // channel ci, of group g
                const int64_t ci = tap_act[tap][e] - tap_q[tap] * Cin, g = ci / Cg;
                const uint32_t* wr = wp + ((g * KH * KW + tap_kk[tap]) * Cg + ci - g * Cg) * Ow;
                uint32_t* ar = acc.data() + g * Ow;
                for (int64_t o = 0; o < Og; ++o) ar[o] += wr[o];
              }
          }
          for (int64_t g = 0; g < G; ++g) {
            const uint32_t* ag = acc.data() + g * Ow;
            int32_t* og = ai.data() + g * Og;
            if (dense) {
              for (int64_t o = 0; o < Og; ++o) {
                const int64_t z = static_cast<int32_t>(ag[o]);
                og[o] = shl6_int32(weight_exp < 0 ? (z >> -weight_exp) : z * (int64_t(1) << weight_exp));
              }
            } else {
              for (int64_t o = 0; o < Og; ++o)
                og[o] = (static_cast<int32_t>(ag[o] << 8) >> 8) * 64;  // signed_clamp(z, 24) << 6
            }
          }
          const int64_t at_row = ((oy - oy0) * OW + ox) * Cout, at_frame = (oy * OW + ox) * Cout;
          lif_step(ai.data(), Cout, u.data() + at_row, v.data() + at_row, bp ? bp + at_frame : nullptr,
                   oframe + at_frame, p);
        }
      }
    }
    if (lv) std::copy(v.begin(), v.end(), lv + k * M + oy0 * OW * Cout);
  });
}

}  // extern "C"
