// The fast engine's convolution over spikes, on CPU (tna_deploy/models/fast_spike_conv.py states when it
// applies and checks every shape; these functions trust their arguments). A spiking layer's output is mostly
// zeros (0/1 spikes, or 0 and 1/(1-p) after dropout), so both functions run over the nonzero inputs only:
//
//   forward: each output pixel sums, tap by tap in kernel order and over its active inputs in channel order,
//            fma(weight row, input, acc) from +0: the order and the single rounding per term of oneDNN's
//            float32 direct convolution, so that skipping the zero inputs changes no bit (the caller checks
//            this against F.conv2d on first use of each shape and falls back where a build of oneDNN
//            differs). Each pixel's terms are listed first (weight row offset, value), then summed in one
//            loop: no branch per tap in the chain.
//   wgrad:   dW[ky, kx, c, :] = sum over active inputs x[n, iy, ix, c] of x * g[n, iy + py - ky*dy,
//            ix + px - kx*dx, :] (stride 1), summed per channel and tap in registers over one image's
//            active inputs at a time: a float32 sum in another order than oneDNN's (within the engine's
//            gradient tolerance, tested).
//   pool:    a pool's input gradient (non-overlapping windows, one fixed weight per tap and channel): each
//            input pixel takes the one product g * w[tap] that oneDNN's grouped backward computes.
//
// Layouts, all contiguous float32, channels last: x (N, IH, IW, C); w and dW (KH, KW, C, O) with O a
// multiple of 8; z and g (N, OH, OW, O). Work runs on torch's own intra-op threads (at::parallel_for): threads
// of another pool would share the cores with torch's, which spin for a while after each torch operation.
// Part of the fast engine's torch extension (engine/cuba_ext.py; csrc/cuba.cpp binds these).
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace {

#ifdef __AVX2__
// For each 8-bit mask, the positions of its set bits, lowest first: a permutation that packs those lanes.
const std::array<std::array<int32_t, 8>, 256>& pack_table() {
  static const std::array<std::array<int32_t, 8>, 256> table = [] {
    std::array<std::array<int32_t, 8>, 256> t{};
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int b = 0; b < 8; ++b)
        if (m >> b & 1) t[m][k++] = b;
    }
    return t;
  }();
  return table;
}
#endif

// The offsets of the nonzero values of x[0, n), in order, into act, and the values into val; returns how
// many. Both are written 8 at a time without a branch per value: they need room for 8 past the count.
inline int64_t nonzero_f32(const float* x, int64_t n, int32_t* act, float* val) {
  int64_t na = 0, b = 0;
#ifdef __AVX2__
  const auto& table = pack_table();
  const __m256 zero = _mm256_setzero_ps();
  for (; b + 8 <= n; b += 8) {
    const __m256 v = _mm256_loadu_ps(x + b);
    const int m = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
    const __m256i perm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table[m].data()));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(act + na),
                        _mm256_add_epi32(perm, _mm256_set1_epi32(static_cast<int32_t>(b))));
    _mm256_storeu_ps(val + na, _mm256_permutevar8x32_ps(v, perm));
    na += __builtin_popcount(static_cast<unsigned>(m));
  }
#endif
  for (; b < n; ++b)
    if (x[b] != 0.0f) {
      act[na] = static_cast<int32_t>(b);
      val[na++] = x[b];
    }
  return na;
}

// acc[0, 8 * NC) = sum over e of val[e] * g[rows[e] * O + lane], two interleaved chains when NC is small (an
// fma waits for the last one into its register: two chains keep the multiply-add units busy).
template <int NC>
inline void column_sum(const int32_t* rows, const float* val, int64_t n, int64_t shift, const float* g, int64_t O,
                       float* acc) {
#ifdef __AVX2__
  constexpr int kChains = NC <= 4 ? 2 : 1;
  __m256 a[kChains][NC];
  for (int k = 0; k < kChains; ++k)
    for (int c = 0; c < NC; ++c) a[k][c] = _mm256_setzero_ps();
  int64_t e = 0;
  for (; e + kChains <= n; e += kChains)
    for (int k = 0; k < kChains; ++k) {
      const float* gr = g + (static_cast<int64_t>(rows[e + k]) - shift) * O;
      const __m256 x = _mm256_set1_ps(val[e + k]);
      for (int c = 0; c < NC; ++c) a[k][c] = _mm256_fmadd_ps(_mm256_loadu_ps(gr + 8 * c), x, a[k][c]);
    }
  for (; e < n; ++e) {
    const float* gr = g + (static_cast<int64_t>(rows[e]) - shift) * O;
    const __m256 x = _mm256_set1_ps(val[e]);
    for (int c = 0; c < NC; ++c) a[0][c] = _mm256_fmadd_ps(_mm256_loadu_ps(gr + 8 * c), x, a[0][c]);
  }
  for (int c = 0; c < NC; ++c) {
    __m256 s = a[0][c];
    for (int k = 1; k < kChains; ++k) s = _mm256_add_ps(s, a[k][c]);
    _mm256_storeu_ps(acc + 8 * c, _mm256_add_ps(_mm256_loadu_ps(acc + 8 * c), s));
  }
#else
  for (int64_t e = 0; e < n; ++e) {
    const float* gr = g + (static_cast<int64_t>(rows[e]) - shift) * O;
    for (int o = 0; o < 8 * NC; ++o) acc[o] += val[e] * gr[o];
  }
#endif
}

inline void column_lanes(int64_t nc, const int32_t* rows, const float* val, int64_t n, int64_t shift,
                         const float* g, int64_t O, float* acc) {
  switch (nc) {
    case 1: column_sum<1>(rows, val, n, shift, g, O, acc); break;
    case 2: column_sum<2>(rows, val, n, shift, g, O, acc); break;
    case 3: column_sum<3>(rows, val, n, shift, g, O, acc); break;
    case 4: column_sum<4>(rows, val, n, shift, g, O, acc); break;
    case 5: column_sum<5>(rows, val, n, shift, g, O, acc); break;
    case 6: column_sum<6>(rows, val, n, shift, g, O, acc); break;
    case 7: column_sum<7>(rows, val, n, shift, g, O, acc); break;
    default: column_sum<8>(rows, val, n, shift, g, O, acc); break;
  }
}

// One output pixel's terms, tap by tap in kernel order and in channel order within a tap: the offset of each
// active input's weight row (tap_base[tap] + its channel * O) and its value. cO and val hold the frame's active
// inputs (channel * O, value), pixel q's from start[q]; they are read 8 at a time past their ends (padded).
inline int64_t terms(int64_t taps, const int64_t* tap_q, const int32_t* tap_base, const int32_t* start,
                     const int32_t* cO, const float* val, int32_t* off, float* vals) {
  int64_t k = 0;
  for (int64_t tap = 0; tap < taps; ++tap) {
    const int32_t s0 = start[tap_q[tap]], cnt = start[tap_q[tap] + 1] - s0;
#ifdef __AVX2__
    const __m256i base = _mm256_set1_epi32(tap_base[tap]);
    int32_t j = 0;
    do {  // whole vectors, the first one always (no branch for the common short list): what lies past cnt
          // is overwritten by the next tap's terms
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(off + k + j),
                          _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(cO + s0 + j)), base));
      _mm256_storeu_ps(vals + k + j, _mm256_loadu_ps(val + s0 + j));
      j += 8;
    } while (j < cnt);
#else
    for (int32_t j = 0; j < cnt; ++j) {
      off[k + j] = cO[s0 + j] + tap_base[tap];
      vals[k + j] = val[s0 + j];
    }
#endif
    k += cnt;
  }
  return k;
}

// out[0, 8 * NC) = the fma chain over one pixel's k terms, from +0 (w offset to the lanes wanted)
template <int NC>
inline void term_sums(const int32_t* off, const float* vals, int64_t k, const float* w, float* out) {
#ifdef __AVX2__
  __m256 a[NC];
  for (int c = 0; c < NC; ++c) a[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < k; ++i) {
    const float* wr = w + off[i];
    const __m256 x = _mm256_set1_ps(vals[i]);
    for (int c = 0; c < NC; ++c) a[c] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + 8 * c), x, a[c]);
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, a[c]);
#else
  std::fill(out, out + 8 * NC, 0.0f);
  for (int64_t i = 0; i < k; ++i)
    for (int o = 0; o < 8 * NC; ++o) out[o] = std::fma(w[off[i] + o], vals[i], out[o]);
#endif
}

// term_sums for two pixels at once (terms a: ka of them, b: kb), each its own fma chain in its own order:
// twice the independent chains hide the multiply-add latency of a short list.
template <int NC>
inline void term_sums2(const int32_t* offa, const float* va, int64_t ka, const int32_t* offb, const float* vb,
                       int64_t kb, const float* w, float* outa, float* outb) {
#ifdef __AVX2__
  __m256 a[NC], b[NC];
  for (int c = 0; c < NC; ++c) a[c] = b[c] = _mm256_setzero_ps();
  const int64_t both = std::min(ka, kb);
  for (int64_t i = 0; i < both; ++i) {
    const __m256 xa = _mm256_set1_ps(va[i]), xb = _mm256_set1_ps(vb[i]);
    for (int c = 0; c < NC; ++c) {
      a[c] = _mm256_fmadd_ps(_mm256_loadu_ps(w + offa[i] + 8 * c), xa, a[c]);
      b[c] = _mm256_fmadd_ps(_mm256_loadu_ps(w + offb[i] + 8 * c), xb, b[c]);
    }
  }
  for (int64_t i = both; i < ka; ++i) {
    const __m256 xa = _mm256_set1_ps(va[i]);
    for (int c = 0; c < NC; ++c) a[c] = _mm256_fmadd_ps(_mm256_loadu_ps(w + offa[i] + 8 * c), xa, a[c]);
  }
  for (int64_t i = both; i < kb; ++i) {
    const __m256 xb = _mm256_set1_ps(vb[i]);
    for (int c = 0; c < NC; ++c) b[c] = _mm256_fmadd_ps(_mm256_loadu_ps(w + offb[i] + 8 * c), xb, b[c]);
  }
  for (int c = 0; c < NC; ++c) {
    _mm256_storeu_ps(outa + 8 * c, a[c]);
    _mm256_storeu_ps(outb + 8 * c, b[c]);
  }
#else
  term_sums<NC>(offa, va, ka, w, outa);
  term_sums<NC>(offb, vb, kb, w, outb);
#endif
}

inline void term_lanes2(int64_t nc, const int32_t* offa, const float* va, int64_t ka, const int32_t* offb,
                        const float* vb, int64_t kb, const float* w, float* outa, float* outb) {
  switch (nc) {
    case 1: term_sums2<1>(offa, va, ka, offb, vb, kb, w, outa, outb); break;
    case 2: term_sums2<2>(offa, va, ka, offb, vb, kb, w, outa, outb); break;
    case 3: term_sums2<3>(offa, va, ka, offb, vb, kb, w, outa, outb); break;
    default: term_sums2<4>(offa, va, ka, offb, vb, kb, w, outa, outb); break;
  }
}

inline void term_lanes(int64_t nc, const int32_t* off, const float* vals, int64_t k, const float* w, float* out) {
  switch (nc) {
    case 1: term_sums<1>(off, vals, k, w, out); break;
    case 2: term_sums<2>(off, vals, k, w, out); break;
    case 3: term_sums<3>(off, vals, k, w, out); break;
    case 4: term_sums<4>(off, vals, k, w, out); break;
    case 5: term_sums<5>(off, vals, k, w, out); break;
    case 6: term_sums<6>(off, vals, k, w, out); break;
    case 7: term_sums<7>(off, vals, k, w, out); break;
    default: term_sums<8>(off, vals, k, w, out); break;
  }
}

// The taps of output pixel (oy, ox) that land inside the input, in kernel order: each one's input pixel
// (iy * IW + ix) and the offset of its weight rows ((ky * KW + kx) * rows_per_tap); returns how many.
inline int64_t pixel_taps(int64_t oy, int64_t ox, int64_t IH, int64_t IW, int64_t KH, int64_t KW,
                          int64_t rows_per_tap, int64_t sy, int64_t sx, int64_t py, int64_t px, int64_t dy,
                          int64_t dx, int64_t* tap_q, int32_t* tap_base) {
  int64_t taps = 0;
  for (int64_t ky = 0; ky < KH; ++ky) {
    const int64_t iy = oy * sy - py + ky * dy;
    if (iy < 0 || iy >= IH) continue;
    for (int64_t kx = 0; kx < KW; ++kx) {
      const int64_t ix = ox * sx - px + kx * dx;
      if (ix < 0 || ix >= IW) continue;
      tap_q[taps] = iy * IW + ix;
      tap_base[taps] = static_cast<int32_t>((ky * KW + kx) * rows_per_tap);
      ++taps;
    }
  }
  return taps;
}

}  // namespace

// The network's first conv (graded pixels, few input channels: C * KH * KW terms per output pixel): each output
// pixel's terms listed straight from the input, tap by tap and channel by channel, zeros left out, then the
// same fma chain from +0 as the forward over spikes (so the same bits as oneDNN's, checked per shape by the
// caller); any stride and padding.
void dense_conv_forward(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* w, int64_t KH,
                        int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t sy, int64_t sx, int64_t py,
                        int64_t px, int64_t dy, int64_t dx, float* z) {
  at::parallel_for(0, N * OH, 1, [&](int64_t r0, int64_t r1) {
    const int64_t most = KH * KW * C + 8;
    std::vector<int32_t> off(2 * most);
    std::vector<float> vals(2 * most);
    std::vector<int64_t> tap_q(KH * KW);
    std::vector<int32_t> tap_base(KH * KW);
    std::vector<int64_t> dq(KH * KW);  // each tap's input pixel, from the window's corner
    for (int64_t ky = 0; ky < KH; ++ky)
      for (int64_t kx = 0; kx < KW; ++kx) dq[ky * KW + kx] = ky * dy * IW + kx * dx;
    // the output columns whose window lies inside the input: [ox_lo, ox_hi]
    const int64_t ox_lo = (px + sx - 1) / sx, ox_hi = IW - 1 - (KW - 1) * dx + px < 0 ? -1 : (IW - 1 - (KW - 1) * dx + px) / sx;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH, oy = r % OH;
      const float* xn = x + n * IH * IW * C;
      const bool row_inside = oy * sy - py >= 0 && oy * sy - py + (KH - 1) * dy < IH;
      auto list = [&](int64_t ox, int32_t* o, float* v) {  // pixel ox's nonzero terms, in order
        if (row_inside && ox >= ox_lo && ox <= ox_hi) {  // every tap inside: no bounds to check
          const float* corner = xn + ((oy * sy - py) * IW + ox * sx - px) * C;
          int64_t k = 0;
          if (C == 1) {  // one channel (grey images): one term per tap
            for (int64_t t = 0; t < KH * KW; ++t) {
              const float xv = corner[dq[t]];
              o[k] = static_cast<int32_t>(t * O);
              v[k] = xv;
              k += xv != 0.0f;
            }
            return k;
          }
          for (int64_t t = 0; t < KH * KW; ++t) {
            const float* xp = corner + dq[t] * C;
            for (int64_t c = 0; c < C; ++c) {
              o[k] = static_cast<int32_t>((t * C + c) * O);
              v[k] = xp[c];
              k += xp[c] != 0.0f;
            }
          }
          return k;
        }
        const int64_t taps =
            pixel_taps(oy, ox, IH, IW, KH, KW, C * O, sy, sx, py, px, dy, dx, tap_q.data(), tap_base.data());
        int64_t k = 0;
        for (int64_t i = 0; i < taps; ++i) {
          const float* xp = xn + tap_q[i] * C;
          for (int64_t c = 0; c < C; ++c) {
            o[k] = static_cast<int32_t>(tap_base[i] + c * O);
            v[k] = xp[c];
            k += xp[c] != 0.0f;  // a zero term is overwritten by the next
          }
        }
        return k;
      };
      float* zr = z + r * OW * O;
      int64_t ox = 0;
      for (; ox + 1 < OW; ox += 2) {  // two pixels at a time, up to 32 lanes each
        const int64_t ka = list(ox, off.data(), vals.data());
        const int64_t kb = list(ox + 1, off.data() + most, vals.data() + most);
        for (int64_t b = 0; b < O; b += 32)
          term_lanes2(std::min<int64_t>(4, (O - b) / 8), off.data(), vals.data(), ka, off.data() + most,
                      vals.data() + most, kb, w + b, zr + ox * O + b, zr + (ox + 1) * O + b);
      }
      for (; ox < OW; ++ox) {
        const int64_t k = list(ox, off.data(), vals.data());
        for (int64_t b = 0; b < O; b += 64)
          term_lanes(std::min<int64_t>(8, (O - b) / 8), off.data(), vals.data(), k, w + b, zr + ox * O + b);
      }
    }
  });
}

void spike_conv_forward(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* w, int64_t KH,
                        int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t sy, int64_t sx, int64_t py,
                        int64_t px, int64_t dy, int64_t dx, float* z) {
  const int64_t pix = IH * IW;
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<int32_t> act(pix * C + 8, 0), cO(pix * C + 8, 0), start(pix + 1), off(KH * KW * C + 8);
    std::vector<float> val(pix * C + 8, 0.0f), vals(KH * KW * C + 8);
    std::vector<int64_t> tap_q(KH * KW);
    std::vector<int32_t> tap_base(KH * KW);
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t na = nonzero_f32(x + n * pix * C, pix * C, act.data(), val.data());
      for (int64_t q = 0, e = 0; q <= pix; ++q) {  // pixel q's active inputs: [start[q], start[q + 1])
        while (e < na && act[e] < q * C) ++e;
        start[q] = static_cast<int32_t>(e);
      }
      for (int64_t q = 0; q < pix; ++q)
        for (int32_t e = start[q]; e < start[q + 1]; ++e) cO[e] = static_cast<int32_t>((act[e] - q * C) * O);
      float* zn = z + n * OH * OW * O;
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t taps = pixel_taps(oy, ox, IH, IW, KH, KW, C * O, sy, sx, py, px, dy, dx, tap_q.data(),
                                          tap_base.data());
          const int64_t k = terms(taps, tap_q.data(), tap_base.data(), start.data(), cO.data(), val.data(),
                                  off.data(), vals.data());
          for (int64_t b = 0; b < O; b += 64)  // 64 lanes at a time: 8 AVX2 registers
            term_lanes(std::min<int64_t>(8, (O - b) / 8), off.data(), vals.data(), k, w + b,
                       zn + (oy * OW + ox) * O + b);
        }
    }
  });
}

void spike_conv_wgrad(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* g, int64_t KH,
                      int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t py, int64_t px, int64_t dy, int64_t dx,
                      float* dw) {
  // g padded with zeros to every output pixel a tap can name: rows [ylo, yhi], columns [xlo, xhi]
  const int64_t ylo = std::min<int64_t>(0, py - (KH - 1) * dy), yhi = std::max<int64_t>(OH - 1, IH - 1 + py);
  const int64_t xlo = std::min<int64_t>(0, px - (KW - 1) * dx), xhi = std::max<int64_t>(OW - 1, IW - 1 + px);
  const int64_t H2 = yhi - ylo + 1, W2 = xhi - xlo + 1, pix = IH * IW, size = KH * KW * C * O;
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N));
  std::vector<std::vector<float>> part(nt);
  // a fixed split of the images into nt parts, summed in part order: the same result on every run
  at::parallel_for(0, nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      std::vector<float>& acc = part[t];
      acc.assign(size, 0.0f);
      std::vector<float> g2(H2 * W2 * O, 0.0f), cval(pix + 1);
      std::vector<int32_t> rows(pix + 1);
      for (int64_t n = N * t / nt; n < N * (t + 1) / nt; ++n) {
        const float* gn = g + n * OH * OW * O;
        for (int64_t oy = 0; oy < OH; ++oy)
          std::memcpy(g2.data() + ((oy - ylo) * W2 - xlo) * O, gn + oy * OW * O, OW * O * sizeof(float));
        // channel by channel: its active inputs, each as its g2 row for tap (0, 0) (written without a branch
        // per input: a zero's slot is taken by the next input), then its sums for every tap
        const float* xn = x + n * pix * C;
        for (int64_t c = 0; c < C; ++c) {
          int64_t n_c = 0;
          for (int64_t iy = 0; iy < IH; ++iy) {
            const float* xr = xn + iy * IW * C + c;
            const int32_t row0 = static_cast<int32_t>((iy + py - ylo) * W2 + px - xlo);
            for (int64_t ix = 0; ix < IW; ++ix) {
              const float v = xr[ix * C];
              rows[n_c] = row0 + static_cast<int32_t>(ix);
              cval[n_c] = v;
              n_c += v != 0.0f;
            }
          }
          if (n_c == 0) continue;
          for (int64_t ky = 0; ky < KH; ++ky)
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t shift = ky * dy * W2 + kx * dx;
              float* a = acc.data() + ((ky * KW + kx) * C + c) * O;
              for (int64_t b = 0; b < O; b += 64)
                column_lanes(std::min<int64_t>(8, (O - b) / 8), rows.data(), cval.data(), n_c, shift, g2.data() + b,
                             O, a + b);
            }
        }
      }
    }
  });
  std::copy(part[0].begin(), part[0].end(), dw);
  for (int64_t t = 1; t < nt; ++t)
    for (int64_t i = 0; i < size; ++i) dw[i] += part[t][i];
}

// gi[n, oy*KH + ky, ox*KW + kx, :] = g[n, oy, ox, :] * w[ky, kx, :]; gi: (N, IH, IW, C), zero where no window
// covers it (the border the window grid leaves); w: (KH, KW, C).
void pool_input_grad(const float* g, int64_t N, int64_t OH, int64_t OW, int64_t C, const float* w, int64_t KH,
                     int64_t KW, int64_t IH, int64_t IW, float* gi) {
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* out = gi + n * IH * IW * C;
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ky = 0; ky < KH; ++ky) {
          float* row = out + (oy * KH + ky) * IW * C;
          for (int64_t ox = 0; ox < OW; ++ox) {
            const float* gr = g + ((n * OH + oy) * OW + ox) * C;
            for (int64_t kx = 0; kx < KW; ++kx) {
              float* __restrict o = row + (ox * KW + kx) * C;
              const float* __restrict wr = w + (ky * KW + kx) * C;
              for (int64_t c = 0; c < C; ++c) o[c] = gr[c] * wr[c];
            }
          }
          std::fill(row + OW * KW * C, row + IW * C, 0.0f);  // columns no window covers
        }
      std::fill(out + OH * KH * IW * C, out + IH * IW * C, 0.0f);  // rows no window covers
    }
  });
}
