// The backward of the fast engine's SLAYER CUBA neuron (tna_deploy/models/fast.py), fused into one pass over
// memory for CPU tensors: SLAYER's exponential surrogate on the pre-reset voltage, times the incoming
// gradient, then its two leaky-integrator backward filters (voltage, then current), time-major, per neuron.
// The torch version in fast.py is the reference and the portable fallback; tests hold the two together.
//
// Arithmetic is SLAYER's float32, operation by operation (spike.py _spike_backward, leaky_integrator.py
// _li_dynamics_bwd): d = v - theta; e = exp(-|d| / tau); s = (k * e) * g with k = scale / 2 / tau;
// g_v[t] = f_v * g_v[t+1] + s[t]; g_i[t] = f_i * g_i[t+1] + g_v[t]. Built with -ffp-contract=off, so no
// multiply-add is fused into one rounding. exp is the Cephes single-precision polynomial (within 2 ulp of
// the exact value, as torch's own vectorized exp is within 1), written so that the compiler vectorizes it.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

inline float pow2i(int32_t n) {  // 2^n for n in -126..127, from its bits
  const int32_t bits = (n + 127) << 23;
  float r;
  std::memcpy(&r, &bits, sizeof r);
  return r;
}

// exp(x) for x <= 0 (the surrogate's argument): e^x = 2^n e^r, |r| <= ln2 / 2. Below -104 the value rounds
// to 0 in float32; between -87.3 and -104 it is subnormal, reached by scaling with two normal powers of 2.
inline float exp_nonpositive(float x) {
  x = std::max(x, -104.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni / 2;  // both halves within -76..1: normal powers
  return e * pow2i(half) * pow2i(ni - half);
}

// One block of neurons [begin, begin + n) of the (T, M) tensors, all steps, from the last step back.
// v (the voltage, SLAYER's float32) may be null: then s = g (the read-out, whose output is the voltage).
// out may be v or g itself: each element is read before the same element is written.
template <bool kSurrogate, bool kVoltageFilter, bool kCurrentFilter>
void backward_block(const float* v, const float* g, float* out, int64_t T, int64_t M, int64_t begin, int64_t n,
                    float theta, float tau, float k, float f_v, float f_i, float* __restrict gv,
                    float* __restrict gi) {
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t row = t * M + begin;
    const float* gr = g + row;
    const float* vr = kSurrogate ? v + row : nullptr;
    float* outr = out + row;
    const bool last = t == T - 1;  // SLAYER: g[T-1] = g_out[T-1]
#pragma GCC ivdep
    for (int64_t j = 0; j < n; ++j) {
      float s = gr[j];
      if (kSurrogate) {
        const float e = exp_nonpositive(-std::fabs(vr[j] - theta) / tau);
        s = (k * e) * s;
      }
      float a = s;
      if (kVoltageFilter) {
        a = last ? s : f_v * gv[j] + s;
        gv[j] = a;
      }
      float b = a;
      if (kCurrentFilter) {
        b = last ? a : f_i * gi[j] + a;
        gi[j] = b;
      }
      outr[j] = b;
    }
  }
}

}  // namespace

// v: (T, M) float32 voltage before reset or an empty tensor (no surrogate); g: (T, M) float32 gradient of the
// output; out: (T, M) float32, written (may be v or g). f_v, f_i: SLAYER's float32 factors 1 - decay / 4096,
// 0 where the filter is the identity. Returns out.
torch::Tensor cuba_backward(torch::Tensor v, torch::Tensor g, torch::Tensor out, double theta, double tau,
                            double k, double f_v, double f_i) {
  const bool surrogate = v.defined() && v.numel() > 0;
  TORCH_CHECK(g.device().is_cpu() && g.is_contiguous() && g.dim() == 2 && g.scalar_type() == torch::kFloat32,
              "cuba_backward: g must be a contiguous float32 CPU (T, M) tensor");
  TORCH_CHECK(out.device().is_cpu() && out.is_contiguous() && out.sizes() == g.sizes() &&
                  out.scalar_type() == torch::kFloat32,
              "cuba_backward: out must be a contiguous float32 CPU tensor shaped as g");
  if (surrogate) {
    TORCH_CHECK(v.device().is_cpu() && v.is_contiguous() && v.sizes() == g.sizes() &&
                    v.scalar_type() == torch::kFloat32,
                "cuba_backward: v must be a contiguous float32 CPU tensor shaped as g");
  }
  const int64_t T = g.size(0), M = g.size(1);
  const float* vp = surrogate ? v.data_ptr<float>() : nullptr;
  const float* gp = g.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float th = static_cast<float>(theta), ta = static_cast<float>(tau), kk = static_cast<float>(k);
  const float fv = static_cast<float>(f_v), fi = static_cast<float>(f_i);
  constexpr int64_t kBlock = 512;  // neurons whose two running gradients stay in L1 over all T steps
  at::parallel_for(0, M, 4096, [&](int64_t lo, int64_t hi) {
    std::vector<float> gv(kBlock), gi(kBlock);
    for (int64_t begin = lo; begin < hi; begin += kBlock) {
      const int64_t n = std::min(kBlock, hi - begin);
#define TNA_BWD(S, V, I) \
  backward_block<S, V, I>(vp, gp, op, T, M, begin, n, th, ta, kk, fv, fi, gv.data(), gi.data())
      if (surrogate) {
        if (fv != 0.0f) {
          if (fi != 0.0f) TNA_BWD(true, true, true); else TNA_BWD(true, true, false);
        } else {
          if (fi != 0.0f) TNA_BWD(true, false, true); else TNA_BWD(true, false, false);
        }
      } else {
        if (fv != 0.0f) {
          if (fi != 0.0f) TNA_BWD(false, true, true); else TNA_BWD(false, true, false);
        } else {
          if (fi != 0.0f) TNA_BWD(false, false, true); else TNA_BWD(false, false, false);
        }
      }
#undef TNA_BWD
    }
  });
  return out;
}
