// examples/python/kernels.cpp — the compute kernels of the Python examples (examples/python/*.py), built
// as a shared library (a CMake MODULE) that each example loads with
// Worker.register_kernel(name, library=path). Communication is strata's own (the shipped collectives);
// these only compute, each on the buffers of one chip. Matrices are row-major f32; shapes come as scalars
// (a domain buffer is one-dimensional).
#include <cstdint>
#include <cstring>
#include <strata/kernel.hpp>
#include <vector>

#include "moe_layer.hpp"

using strata::examples::expert_forward;
using strata::examples::route_token;

// x[i] *= a. Tensors: x (INOUT, f32). Scalars: a (f32). Blocks split the elements.
STRATA_KERNEL(pyex_scale) {
  float* x = ctx.data<float>(0);
  const float a = ctx.scalar<float>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) x[i] *= a;
}

// c = a·b, or relu(a·b) when relu != 0. Tensors: a (IN, M x K), b (IN, K x N), c (OUTPUT_EXISTING,
// M x N). Scalars: M, K, N, relu. Blocks split the rows of c.
STRATA_KERNEL(pyex_matmul) {
  const float* a = ctx.data<float>(0);
  const float* b = ctx.data<float>(1);
  float* c = ctx.data<float>(2);
  const auto m = ctx.scalar<int64_t>(0), k = ctx.scalar<int64_t>(1), n = ctx.scalar<int64_t>(2);
  const bool relu = ctx.scalar<int64_t>(3) != 0;
  for (int64_t i = ctx.block_idx(); i < m; i += ctx.block_dim()) {
    float* row = c + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] = 0.0f;
    for (int64_t p = 0; p < k; ++p) {
      const float av = a[i * k + p];
      for (int64_t j = 0; j < n; ++j) row[j] += av * b[p * n + j];
    }
    if (relu)
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
  }
}

// moe.py, step 1 on each chip: route every token to its top-2 experts and lay the rows out for the
// all-to-all. Chunk d of `send` (C rows of W = H + 2 floats) is for chip d: rows in order of (token,
// pick), each the token's H values, its local expert on chip d, and 1 (a used row; unused rows are 0).
// Tensors: x (IN, T x H), wg (IN, H x E), route_idx (OUTPUT_EXISTING, T x 2 i32), route_w
// (OUTPUT_EXISTING, T x 2), send (OUTPUT_EXISTING, N x C x W). Scalars: T, H, E, EL (experts per chip),
// C (rows per chunk, >= 2T).
STRATA_KERNEL(pyex_moe_route) {
  const float* x = ctx.data<float>(0);
  const float* wg = ctx.data<float>(1);
  int32_t* idx = ctx.data<int32_t>(2);
  float* w = ctx.data<float>(3);
  float* send = ctx.data<float>(4);
  const auto t = ctx.scalar<int64_t>(0), h = ctx.scalar<int64_t>(1), e = ctx.scalar<int64_t>(2);
  const auto el = ctx.scalar<int64_t>(3), c = ctx.scalar<int64_t>(4);
  const int64_t width = h + 2, chips = e / el;
  std::memset(send, 0, ctx.tensor(4).nbytes());
  std::vector<int64_t> next(static_cast<size_t>(chips), 0);
  for (int64_t i = 0; i < t; ++i) {
    route_token(x + i * h, wg, h, e, idx + 2 * i, w + 2 * i);
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t d = idx[2 * i + k] / el;
      float* row = send + (d * c + next[static_cast<size_t>(d)]++) * width;
      std::memcpy(row, x + i * h, static_cast<size_t>(h) * sizeof(float));
      row[h] = static_cast<float>(idx[2 * i + k] % el);
      row[h + 1] = 1.0f;
    }
  }
}

// moe.py, step 2 on each chip: every used row received through the chip's own expert, relu(row·We + be);
// the result goes to the same place in `ret`, whose chunk s the second all-to-all returns to chip s.
// Tensors: recv (IN, N x C x W), we (IN, EL x H x H), be (IN, EL x H), ret (OUTPUT_EXISTING, N x C x H).
// Scalars: N, C, H. Blocks split the rows.
STRATA_KERNEL(pyex_moe_expert) {
  const float* recv = ctx.data<float>(0);
  const float* we = ctx.data<float>(1);
  const float* be = ctx.data<float>(2);
  float* ret = ctx.data<float>(3);
  const auto n = ctx.scalar<int64_t>(0), c = ctx.scalar<int64_t>(1), h = ctx.scalar<int64_t>(2);
  const int64_t width = h + 2;
  for (int64_t r = ctx.block_idx(); r < n * c; r += ctx.block_dim()) {
    const float* in = recv + r * width;
    float* out = ret + r * h;
    if (in[h + 1] == 0.0f) {
      for (int64_t j = 0; j < h; ++j) out[j] = 0.0f;
      continue;
    }
    const auto le = static_cast<int64_t>(in[h]);
    expert_forward(in, we + le * h * h, be + le * h, h, out);
  }
}

// moe.py, step 3 on each chip: y[t] = w0 * (token t's first expert output) + w1 * (its second), finding
// each result in `back` (chunk d: what chip d returned, in the order this chip sent it).
// Tensors: back (IN, N x C x H), route_idx (IN), route_w (IN), y (OUTPUT_EXISTING, T x H).
// Scalars: T, H, EL, N, C.
STRATA_KERNEL(pyex_moe_combine) {
  const float* back = ctx.data<float>(0);
  const int32_t* idx = ctx.data<int32_t>(1);
  const float* w = ctx.data<float>(2);
  float* y = ctx.data<float>(3);
  const auto t = ctx.scalar<int64_t>(0), h = ctx.scalar<int64_t>(1), el = ctx.scalar<int64_t>(2);
  const auto n = ctx.scalar<int64_t>(3), c = ctx.scalar<int64_t>(4);
  std::vector<int64_t> next(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < t; ++i) {
    const float* r[2];
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t d = idx[2 * i + k] / el;
      r[k] = back + (d * c + next[static_cast<size_t>(d)]++) * h;
    }
    for (int64_t j = 0; j < h; ++j) y[i * h + j] = w[2 * i] * r[0][j] + w[2 * i + 1] * r[1][j];
  }
}
