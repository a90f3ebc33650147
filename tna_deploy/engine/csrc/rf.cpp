// Resonate-and-fire neurons (engine/neurons/rf.py: Lava's PyRFModelFixed and PyRF_IZModelFixed), every
// neuron of every sample, step by step, in int64: the same integers as the torch loop (tested).
#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kLimit = (int64_t(1) << 23) - 1;

inline int64_t shr12(int64_t x) { return x >= 0 ? (x >> 12) : -((-x) >> 12); }

}  // namespace

extern "C" {

// a_re, a_im: (T, M) the synaptic input already << 6 (int64); out: (T, M) spikes; re_rec, im_rec: (T, M)
// the state after each step, or null. phase: RF (the phase crosses zero), else RF_IZ (reset to vth - 1).
void rf_forward(const int64_t* a_re, const int64_t* a_im, int64_t T, int64_t M, int64_t s_dec,
                int64_t c_dec, int64_t vth, int64_t phase, float* out, double* re_rec, double* im_rec) {
  std::vector<int64_t> re(M, 0), im(M, 0);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t* ar = a_re + t * M;
    const int64_t* ai = a_im + t * M;
    float* o = out + t * M;
    for (int64_t j = 0; j < M; ++j) {
      const int64_t r0 = re[j], i0 = im[j];
      int64_t r1 = std::clamp(shr12(c_dec * r0) - shr12(s_dec * i0) + ar[j], -kLimit, kLimit);
      int64_t i1 = std::clamp(shr12(s_dec * r0) + shr12(c_dec * i0) + ai[j], -kLimit, kLimit);
      bool spike;
      if (phase) {
        spike = r1 >= vth && i1 >= 0 && i0 < 0;
      } else {
        spike = i1 >= vth;
        if (spike) {
          r1 = 0;
          i1 = vth - 1;
        }
      }
      re[j] = r1;
      im[j] = i1;
      o[j] = spike ? 1.0f : 0.0f;
      if (re_rec) re_rec[t * M + j] = static_cast<double>(r1);
      if (im_rec) im_rec[t * M + j] = static_cast<double>(i1);
    }
  }
}

}  // extern "C"
