// examples/common/moe_router.hpp — the mixture-of-experts router both MoE examples use (the C++ workload in
// moe.cpp and the Python example's kernel library): logits = x·wg (wg is H x E), the two largest (ties:
// lower index first), softmax over the two.
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

}  // namespace strata::examples
