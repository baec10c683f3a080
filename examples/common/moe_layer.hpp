// examples/common/moe_layer.hpp — the per-token maths both MoE examples use (the C++ workload in moe.cpp
// and the Python example's kernel library): the router (logits = x·wg, wg H x E; the two largest, ties to
// the lower index; softmax over the two) and one expert (relu(in·we + be), we H x H).
#pragma once

#include <cmath>
#include <cstdint>

namespace strata::examples {

[[gnu::noinline]] inline void route_token(const float* x, const float* wg, int64_t h, int64_t e, int32_t* idx,
                                          float* w) {
  int32_t best = -1, second = -1;
  float lb = 0, ls = 0;
  for (int64_t j = 0; j < e; ++j) {
    float l = 0;
    for (int64_t k = 0; k < h; ++k) l += x[k] * wg[k * e + j];
    if (best < 0 || l > lb) {
      second = best;
      ls = lb;
      best = static_cast<int32_t>(j);
      lb = l;
    } else if (second < 0 || l > ls) {
      second = static_cast<int32_t>(j);
      ls = l;
    }
  }
  const float e1 = std::exp(ls - lb);
  idx[0] = best;
  idx[1] = second;
  w[0] = 1.0f / (1.0f + e1);
  w[1] = e1 / (1.0f + e1);
}

// One expert: out = relu(in·we + be), we H x H.
[[gnu::noinline]] inline void expert_forward(const float* in, const float* we, const float* be, int64_t h, float* out) {
  for (int64_t j = 0; j < h; ++j) {
    float acc = be[j];
    for (int64_t k = 0; k < h; ++k) acc += in[k] * we[k * h + j];
    out[j] = acc > 0.0f ? acc : 0.0f;
  }
}

}  // namespace strata::examples
