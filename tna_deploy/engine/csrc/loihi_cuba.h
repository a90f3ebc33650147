// Lava's bit-accurate CUBA neuron (PyLifModelBitAcc / PyLifResetModelBitAcc), one neuron and one step,
// as engine/cuba.py's portable kernel computes it with the LOIHI flavor: integers held in double (exact
// below 2^53), u wrapped at 24 bits, v clipped to +-(2^23 - 1), a spike where v > vth << 6.
// Shared by the fused layer kinds (dense_rec.cpp, scatter_cuba.cpp); built by engine/kinds_ext.py.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tna {

constexpr double kUMax = 8388608.0;  // 2^23

struct LoihiCuba {
  double ku;     // (4096 - iDecay) / 4096: trunc(x * ku) is rshift_to_zero(x * keep, 12), exactly
  double kv;     // (4096 - vDecay) / 4096
  double level;  // vThMant << 6
  bool threshold;

  // a_in << 6 (state units) and the bias (state units) into (u, v); true where it spikes
  inline bool step(double a, double bias, double& u, double& v) const {
    double uu = std::trunc(u * ku) + a;
    uu = uu > kUMax ? uu - 2 * kUMax : uu;
    uu = uu <= -kUMax ? uu + 2 * kUMax : uu;
    u = uu;
    double vv = std::trunc(v * kv) + uu + bias;
    vv = std::min(std::max(vv, -(kUMax - 1)), kUMax - 1);
    const bool s = threshold && vv > level;
    v = s ? 0.0 : vv;
    return s;
  }
};

// np.left_shift(x, 6) on int32 for an integer x held in double: two's-complement wrap beyond int32
inline double shift_left6_int32(double x) {
  const double y = x * 64.0, two31 = 2147483648.0, two32 = 4294967296.0;
  if (y < two31 && y >= -two31) return y;
  double m = std::fmod(y + two31, two32);
  if (m < 0) m += two32;
  return m - two31;
}

}  // namespace tna
