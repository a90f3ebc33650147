// The CUBA fixed-point kernel of tna_deploy/cuba.py, fused into one pass over memory for CPU tensors.
// Semantics are defined (and tested against this file) by cuba.py's portable torch implementation;
// every flag below is one of its Flavor fields. Built on first use by tna_deploy/cuba_ext.py.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <algorithm>
#include <type_traits>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kUnity = 4096;
constexpr int64_t kUMax = int64_t(1) << 23;

// One chunk of neurons, all steps. Flags are template parameters so that the common case (the paper's
// LIF: u is this step's input, no wrap, no clip, no bias) compiles to a branch-free, vectorizable loop.
// Arithmetic is in double, exact for integers below 2^53: trunc(x * keep / 4096) is rshift_to_zero(x * keep, 12)
// because x * keep is exact and dividing by 4096 only moves the exponent.
template <typename In, typename Sp, bool kUIsInput, bool kWrap, bool kClip, bool kSlayerFloat, bool kBias, bool kThreshold>
void forward_chunk(const In* a, int64_t T, int64_t M, int64_t begin, int64_t n, In scale, double ku, double kv,
                   double fire_at, const double* bias, Sp* spikes, float* v_pre32, float v_pre_div,
                   double* v_pre64, double* u_rec, double* v_rec, double* u, double* v) {
  const double umax = static_cast<double>(kUMax);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = t * M + begin;
    const In* ar = a + row;
    for (int64_t j = 0; j < n; ++j) {
      // SLAYER: (4096 * z).to(int64) in z's own precision; the emulator passes a_in << 6 (scale 1)
      const double ai = static_cast<double>(std::trunc(ar[j] * scale));
      double uu = kUIsInput ? ai : std::trunc(u[j] * ku) + ai;
      if (kWrap) {
        const double w = uu > umax ? uu - 2 * umax : uu;
        uu = w <= -umax ? uu + 2 * umax : w;
      }
      u[j] = uu;
      const double u_in = kSlayerFloat ? static_cast<double>(static_cast<float>(uu)) : uu;
      double vv = std::trunc(v[j] * kv) + u_in;
      if (kBias) vv += bias[begin + j];
      if (kClip) vv = std::min(std::max(vv, -(umax - 1)), umax - 1);
      if (v_pre32) v_pre32[row + j] = static_cast<float>(vv) / v_pre_div;
      if (v_pre64) v_pre64[row + j] = vv;
      if (kThreshold) {
        const bool s = vv >= fire_at;
        spikes[row + j] = static_cast<Sp>(s);
        vv = s ? 0.0 : vv;
      }
      v[j] = vv;
      if (u_rec) u_rec[row + j] = uu;
      if (v_rec) v_rec[row + j] = vv;
    }
  }
}

// The fast engine's case (SLAYER, the paper's LIF: u is this step's float32 input, no bias, float32 voltage
// for the surrogate, float spikes), written so that the compiler vectorizes it.
template <bool kThreshold>
void slayer_lif_chunk(const float* a, int64_t T, int64_t M, int64_t begin, int64_t n, float scale,
                      double kv, double fire_at, float* spikes, float* v_pre, float v_pre_div,
                      double* __restrict v) {
  // v_pre may be a itself (the voltage is written over the synaptic input): each element is read before
  // the same element is written, which is what ivdep promises the vectorizer.
  const double dscale = static_cast<double>(scale);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = t * M + begin;
    const float* ar = a + row;
    float* sr = spikes + row;
    float* pr = v_pre + row;
#pragma GCC ivdep
    for (int64_t j = 0; j < n; ++j) {
      const double uu = std::trunc(static_cast<double>(ar[j]) * dscale);   // == float32 z * 4096, exactly
      const double vv = std::trunc(v[j] * kv) + uu;
      pr[j] = static_cast<float>(vv) / v_pre_div;
      if (kThreshold) {
        const bool s = vv >= fire_at;
        sr[j] = s ? 1.0f : 0.0f;
        v[j] = s ? 0.0 : vv;
      } else {
        v[j] = vv;
      }
    }
  }
}

template <typename In, typename Sp>
void forward_impl(const In* a, int64_t T, int64_t M, double in_scale, int64_t keep_u, int64_t keep_v,
                  bool has_threshold, int64_t fire_at, const double* bias, bool wrap, bool clip,
                  bool slayer_float, bool u_is_input, Sp* spikes, float* v_pre32, float v_pre_div,
                  double* v_pre64, double* u_rec, double* v_rec) {
  const In scale = static_cast<In>(in_scale);
  const double ku = static_cast<double>(keep_u) / kUnity, kv = static_cast<double>(keep_v) / kUnity;
  const double fire = static_cast<double>(fire_at);
  constexpr int64_t kBlock = 512;   // neurons whose u and v stay in L1 while all T steps run
  const bool lif = std::is_same<In, float>::value && std::is_same<Sp, float>::value && u_is_input && !wrap &&
                   !clip && slayer_float && !bias && v_pre32 && !v_pre64 && !u_rec && !v_rec;
  at::parallel_for(0, M, 4096, [&](int64_t lo, int64_t hi) {
    std::vector<double> u(kBlock), v(kBlock);
    for (int64_t begin = lo; begin < hi; begin += kBlock) {
    const int64_t n = std::min(kBlock, hi - begin);
    std::fill(u.begin(), u.end(), 0.0);
    std::fill(v.begin(), v.end(), 0.0);
    if (lif) {
      const float* af = reinterpret_cast<const float*>(a);
      float* sf = reinterpret_cast<float*>(spikes);
      if (has_threshold) slayer_lif_chunk<true>(af, T, M, begin, n, static_cast<float>(scale), kv, fire, sf, v_pre32, v_pre_div, v.data());
      else slayer_lif_chunk<false>(af, T, M, begin, n, static_cast<float>(scale), kv, fire, sf, v_pre32, v_pre_div, v.data());
      continue;
    }
#define TNA_CHUNK(UI, WR, CL, SF, BI, TH) \
    forward_chunk<In, Sp, UI, WR, CL, SF, BI, TH>(a, T, M, begin, n, scale, ku, kv, fire, bias, spikes, v_pre32, \
                                              v_pre_div, v_pre64, u_rec, v_rec, u.data(), v.data())
    if (u_is_input && !wrap && !clip && slayer_float && !bias && has_threshold) {
      TNA_CHUNK(true, false, false, true, false, true);          // SLAYER, the paper's LIF
    } else if (u_is_input && !wrap && !clip && slayer_float && !bias && !has_threshold) {
      TNA_CHUNK(true, false, false, true, false, false);         // SLAYER read-out
    } else if (wrap && clip && !slayer_float) {                 // Loihi 2 (Lava's bit-accurate LIF)
      if (bias) { if (has_threshold) TNA_CHUNK(false, true, true, false, true, true); else TNA_CHUNK(false, true, true, false, true, false); }
      else { if (has_threshold) TNA_CHUNK(false, true, true, false, false, true); else TNA_CHUNK(false, true, true, false, false, false); }
    } else if (slayer_float && !wrap && !clip && !bias) {       // SLAYER, any decays
      if (has_threshold) TNA_CHUNK(false, false, false, true, false, true); else TNA_CHUNK(false, false, false, true, false, false);
    } else {
      TORCH_CHECK(false, "cuba_forward: flag combination not compiled; use the portable kernel");
    }
#undef TNA_CHUNK
    }
  });
}

}  // namespace

// a: (T, M) float32/float64 contiguous. Returns [spikes (T, M) bool or float32, v_pre, u, v] (undefined when
// not asked).
std::vector<torch::Tensor> cuba_forward(torch::Tensor a, double in_scale, int64_t i_decay, int64_t v_decay,
                                        bool has_threshold, int64_t fire_at, torch::Tensor bias, bool wrap,
                                        bool clip, bool slayer_float, int64_t v_pre_mode, double v_pre_divisor, bool record,
                                        bool spike_float, torch::Tensor v_pre_buf, torch::Tensor spike_buf) {
  TORCH_CHECK(a.device().is_cpu() && a.is_contiguous() && a.dim() == 2, "cuba_forward: contiguous CPU (T, M)");
  const int64_t T = a.size(0), M = a.size(1);
  const auto sdt = a.options().dtype(spike_float ? torch::kFloat32 : torch::kBool);
  torch::Tensor spikes;
  if (spike_float && has_threshold && spike_buf.defined() && spike_buf.numel() > 0) {
    // spike_buf: float spikes written over a buffer the caller hands over (it may be a itself)
    TORCH_CHECK(spike_buf.scalar_type() == torch::kFloat32 && spike_buf.is_contiguous() && spike_buf.numel() == T * M,
                "cuba_forward: spike_buf must be a contiguous float32 tensor of T * M values");
    spikes = spike_buf.view({T, M});
  } else {
    spikes = has_threshold ? torch::empty({T, M}, sdt) : torch::zeros({T, M}, sdt);   // every value is written
  }
  torch::Tensor v_pre, u_rec, v_rec;
  float* vp32 = nullptr;
  double* vp64 = nullptr;
  if (v_pre_mode == 1) {   // v_pre_buf: write the voltage over a buffer the caller hands over (it may be a itself)
    if (v_pre_buf.defined() && v_pre_buf.numel() > 0) {
      TORCH_CHECK(v_pre_buf.scalar_type() == torch::kFloat32 && v_pre_buf.is_contiguous() && v_pre_buf.numel() == T * M,
                  "cuba_forward: v_pre_buf must be a contiguous float32 tensor of T * M values");
      v_pre = v_pre_buf.view({T, M});
    } else {
      v_pre = torch::empty({T, M}, a.options().dtype(torch::kFloat32));
    }
    vp32 = v_pre.data_ptr<float>();
  }
  if (v_pre_mode == 2) { v_pre = torch::empty({T, M}, a.options().dtype(torch::kFloat64)); vp64 = v_pre.data_ptr<double>(); }
  if (record) {
    u_rec = torch::empty({T, M}, a.options().dtype(torch::kFloat64));
    v_rec = torch::empty({T, M}, a.options().dtype(torch::kFloat64));
  }
  const double* b = nullptr;
  torch::Tensor bias64;
  if (bias.defined() && bias.numel() > 0) {
    bias64 = bias.to(torch::kFloat64).contiguous();
    TORCH_CHECK(bias64.numel() == M, "cuba_forward: bias must hold one value per neuron");
    b = bias64.data_ptr<double>();
  }
  const bool u_is_input = (i_decay == kUnity) && !wrap;
  const int64_t keep_u = kUnity - i_decay, keep_v = kUnity - v_decay;
  double* ur = record ? u_rec.data_ptr<double>() : nullptr;
  double* vr = record ? v_rec.data_ptr<double>() : nullptr;
  const float vdiv = static_cast<float>(v_pre_divisor);
  TORCH_CHECK(a.scalar_type() == torch::kFloat32 || a.scalar_type() == torch::kFloat64,
              "cuba_forward: float32 or float64 input");
#define TNA_RUN(IN, SP) \
  forward_impl<IN, SP>(a.data_ptr<IN>(), T, M, in_scale, keep_u, keep_v, has_threshold, fire_at, b, wrap, clip, \
                       slayer_float, u_is_input, spikes.data_ptr<SP>(), vp32, vdiv, vp64, ur, vr)
  if (spike_float) {
    if (a.scalar_type() == torch::kFloat32) TNA_RUN(float, float); else TNA_RUN(double, float);
  } else {
    if (a.scalar_type() == torch::kFloat32) TNA_RUN(float, bool); else TNA_RUN(double, bool);
  }
#undef TNA_RUN
  return {spikes, v_pre, u_rec, v_rec};
}

// csrc/cuba_backward.cpp: the fast engine's SLAYER gradients (surrogate and both leaky-integrator filters)
torch::Tensor cuba_backward(torch::Tensor v, torch::Tensor g, torch::Tensor out, double theta, double tau,
                            double k, double f_v, double f_i);

// csrc/spike_conv.cpp: the fast engine's convolution over spikes (raw pointers; checked and wrapped below)
void spike_conv_forward(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* w, int64_t KH,
                        int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t sy, int64_t sx, int64_t py,
                        int64_t px, int64_t dy, int64_t dx, float* z);
void dense_conv_forward(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* w, int64_t KH,
                        int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t sy, int64_t sx, int64_t py,
                        int64_t px, int64_t dy, int64_t dx, float* z);
void spike_conv_wgrad(const float* x, int64_t N, int64_t IH, int64_t IW, int64_t C, const float* g, int64_t KH,
                      int64_t KW, int64_t O, int64_t OH, int64_t OW, int64_t py, int64_t px, int64_t dy, int64_t dx,
                      float* dw);
void pool_input_grad(const float* g, int64_t N, int64_t OH, int64_t OW, int64_t C, const float* w, int64_t KH,
                     int64_t KW, int64_t IH, int64_t IW, float* gi);

// csrc/raster_counts.cpp: simulate's spike counts and synaptic ops of a uint8 raster
void raster_counts(const uint8_t* r, int64_t K, int64_t T, int64_t J, bool time_last, const int32_t* fo,
                   int64_t* counts, int64_t* ops);

namespace {

void check_f32(const torch::Tensor& t, int64_t dim, const char* what) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.dim() == dim,
              what, ": a contiguous float32 CPU tensor of ", dim, " dimensions");
}

using ConvForward = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*);

// x (N, IH, IW, C), w (KH, KW, C, O) with O % 8 == 0, z (N, OH, OW, O); geometry {sy, sx, py, px, dy, dx}
void conv_forward_t(ConvForward forward, const char* what, const torch::Tensor& x, const torch::Tensor& w,
                    const torch::Tensor& z, const std::vector<int64_t>& geometry) {
  check_f32(x, 4, "x");
  check_f32(w, 4, "w");
  check_f32(z, 4, "z");
  TORCH_CHECK(geometry.size() == 6 && geometry[0] > 0 && geometry[1] > 0 && w.size(2) == x.size(3) &&
                  w.size(3) == z.size(3) && z.size(3) % 8 == 0 && z.size(0) == x.size(0),
              what, ": shapes do not match");
  forward(x.data_ptr<float>(), x.size(0), x.size(1), x.size(2), x.size(3), w.data_ptr<float>(), w.size(0), w.size(1),
          z.size(3), z.size(1), z.size(2), geometry[0], geometry[1], geometry[2], geometry[3], geometry[4], geometry[5],
          z.data_ptr<float>());
}

// the same tensors; geometry {py, px, dy, dx} (stride 1)
void spike_conv_forward_t(torch::Tensor x, torch::Tensor w, torch::Tensor z, std::vector<int64_t> geometry) {
  TORCH_CHECK(geometry.size() == 4, "spike_conv_forward: geometry {py, px, dy, dx}");
  conv_forward_t(spike_conv_forward, "spike_conv_forward", x, w, z,
                 {1, 1, geometry[0], geometry[1], geometry[2], geometry[3]});
}

void dense_conv_forward_t(torch::Tensor x, torch::Tensor w, torch::Tensor z, std::vector<int64_t> geometry) {
  conv_forward_t(dense_conv_forward, "dense_conv_forward", x, w, z, geometry);
}

// x (N, IH, IW, C), g (N, OH, OW, O) with O % 8 == 0, dw (KH, KW, C, O); geometry {py, px, dy, dx} (stride 1)
void spike_conv_wgrad_t(torch::Tensor x, torch::Tensor g, torch::Tensor dw, std::vector<int64_t> geometry) {
  check_f32(x, 4, "x");
  check_f32(g, 4, "g");
  check_f32(dw, 4, "dw");
  TORCH_CHECK(geometry.size() == 4 && dw.size(2) == x.size(3) && dw.size(3) == g.size(3) && g.size(3) % 8 == 0 &&
                  g.size(0) == x.size(0),
              "spike_conv_wgrad: shapes do not match");
  spike_conv_wgrad(x.data_ptr<float>(), x.size(0), x.size(1), x.size(2), x.size(3), g.data_ptr<float>(), dw.size(0),
                   dw.size(1), g.size(3), g.size(1), g.size(2), geometry[0], geometry[1], geometry[2], geometry[3],
                   dw.data_ptr<float>());
}

// g (N, OH, OW, C), w (KH, KW, C), gi (N, IH, IW, C) with IH >= OH * KH, IW >= OW * KW
void pool_input_grad_t(torch::Tensor g, torch::Tensor w, torch::Tensor gi) {
  check_f32(g, 4, "g");
  check_f32(w, 3, "w");
  check_f32(gi, 4, "gi");
  TORCH_CHECK(w.size(2) == g.size(3) && gi.size(3) == g.size(3) && gi.size(0) == g.size(0) &&
                  gi.size(1) >= g.size(1) * w.size(0) && gi.size(2) >= g.size(2) * w.size(1),
              "pool_input_grad: shapes do not match");
  pool_input_grad(g.data_ptr<float>(), g.size(0), g.size(1), g.size(2), g.size(3), w.data_ptr<float>(), w.size(0),
                  w.size(1), gi.size(1), gi.size(2), gi.data_ptr<float>());
}

// r (K, T, J), or (K, J, T) when time_last, contiguous uint8; fo (J,) int32; counts, ops (K, T) int64
void raster_counts_t(torch::Tensor r, torch::Tensor fo, bool time_last, torch::Tensor counts, torch::Tensor ops) {
  TORCH_CHECK(r.device().is_cpu() && r.scalar_type() == torch::kUInt8 && r.is_contiguous() && r.dim() == 3,
              "r: a contiguous uint8 CPU tensor of 3 dimensions");
  const int64_t K = r.size(0), T = time_last ? r.size(2) : r.size(1), J = time_last ? r.size(1) : r.size(2);
  TORCH_CHECK(fo.scalar_type() == torch::kInt32 && fo.is_contiguous() && fo.dim() == 1 && fo.size(0) == J,
              "fo: a contiguous int32 tensor of one fan-out per neuron");
  for (const auto* t : {&counts, &ops})
    TORCH_CHECK(t->scalar_type() == torch::kInt64 && t->is_contiguous() && t->dim() == 2 && t->size(0) == K &&
                    t->size(1) == T,
                "counts and ops: contiguous int64 (K, T) tensors");
  raster_counts(r.data_ptr<uint8_t>(), K, T, J, time_last, fo.data_ptr<int32_t>(), counts.data_ptr<int64_t>(),
                ops.data_ptr<int64_t>());
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("cuba_forward", &cuba_forward, "CUBA fixed-point dynamics, fused (CPU)");
  m.def("cuba_backward", &cuba_backward, "SLAYER CUBA surrogate and leaky-integrator gradients, fused (CPU)");
  m.def("spike_conv_forward", &spike_conv_forward_t, "a stride-1 conv over the nonzero inputs, oneDNN's sums (CPU)");
  m.def("dense_conv_forward", &dense_conv_forward_t, "a conv of few input channels, oneDNN's sums (CPU)");
  m.def("spike_conv_wgrad", &spike_conv_wgrad_t, "a stride-1 conv's weight gradient over the nonzero inputs (CPU)");
  m.def("pool_input_grad", &pool_input_grad_t, "a pool's input gradient, one product per input (CPU)");
  m.def("raster_counts", &raster_counts_t, "spike counts and synaptic ops of a uint8 raster, exact (CPU)");
}
