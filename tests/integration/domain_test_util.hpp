// Shared by the domain integration tests (each test file is its own executable, so the kernels
// defined here are registered once per program): the test kernels, which reach a peer's window
// through the CommContext passed as a scalar (windows[q] + (local address - windows[rank])), and
// small helpers. Nothing depends on the collective kernels.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>
#include <vector>

#include "integration/integration_util.hpp"
#include "support/proc_scan.hpp"
#include "util/config.hpp"

namespace {

using strata::CommContext;
using strata::DType;
using strata::TaskArgs;
using strata::Tensor;
using strata::test::capture;
using strata::test::Clock;
using strata::test::ms_since;
using strata::test::zero;

class DomainTest : public strata::test::LeakCheckedTest {};

// ---- kernels ------------------------------------------------------------------------------------------

const CommContext* comm_of(const strata::TaskContext& ctx, size_t i) {
  return reinterpret_cast<const CommContext*>(ctx.scalar<uint64_t>(i));
}

// `local` is an address in this rank's window; the same offset in rank q's window.
template <class T>
T* peer_ptr(const CommContext* c, uint32_t q, const void* local) {
  const uint64_t off = reinterpret_cast<uint64_t>(local) - c->windows[c->rank];
  return reinterpret_cast<T*>(c->windows[q] + off);
}

// What a kernel sees in its CommContext: [rank, size, window_size, workspace, workspace_size,
// windows[rank], 0, 0, windows[0..size)].
constexpr size_t kInfoWords = 8 + STRATA_COMM_MAX_RANKS;
STRATA_KERNEL(dt_info) {
  const CommContext* c = comm_of(ctx, 0);
  auto* out = ctx.data<uint64_t>(0);
  out[0] = c->rank;
  out[1] = c->size;
  out[2] = c->window_size;
  out[3] = c->workspace;
  out[4] = c->workspace_size;
  out[5] = c->windows[c->rank];
  for (uint32_t r = 0; r < c->size; ++r) out[8 + r] = c->windows[r];
}

// out[q] = number of non-zero bytes in rank q's window (buffers and signal area); out[64] = bytes scanned
// per window (a positive control on the length).
STRATA_KERNEL(dt_zero_scan) {
  const CommContext* c = comm_of(ctx, 0);
  auto* out = ctx.data<int64_t>(0);
  const size_t bytes = c->window_size + STRATA_COMM_SIGNAL_BYTES;
  for (uint32_t q = 0; q < c->size; ++q) {
    const auto* p = reinterpret_cast<const unsigned char*>(c->windows[q]);
    int64_t nonzero = 0;
    for (size_t i = 0; i < bytes; ++i) nonzero += p[i] != 0;
    out[q] = nonzero;
  }
  out[STRATA_COMM_MAX_RANKS] = static_cast<int64_t>(bytes);
}

// Fills this rank's whole window (buffers and signal area) with the byte scalar 1.
STRATA_KERNEL(dt_scribble) {
  const CommContext* c = comm_of(ctx, 0);
  std::memset(reinterpret_cast<void*>(c->windows[c->rank]), static_cast<int>(ctx.scalar<uint8_t>(1)),
              c->window_size + STRATA_COMM_SIGNAL_BYTES);
}

// Writes base + rank into slot `rank` of every member's copy of tensor 0 (i64 slots, >= size of them).
STRATA_KERNEL(dt_exchange) {
  const CommContext* c = comm_of(ctx, 0);
  const int64_t base = ctx.scalar<int64_t>(1);
  const int64_t* own = ctx.data<int64_t>(0);
  if (ctx.tensor(0).numel() < c->size) throw std::runtime_error("dt_exchange: slots buffer too small");
  for (uint32_t q = 0; q < c->size; ++q) peer_ptr<int64_t>(c, q, own)[c->rank] = base + c->rank;
}

// Copies tensor 0's bytes into tensor 1.
STRATA_KERNEL(dt_collect) { std::memcpy(ctx.tensor(1).data, ctx.tensor(0).data, ctx.tensor(0).nbytes()); }

// x[i] = v + i (i64)
STRATA_KERNEL(dt_fill) {
  auto* x = ctx.data<int64_t>(0);
  const int64_t v = ctx.scalar<int64_t>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = v + static_cast<int64_t>(i);
}

// Blocks its chip until the host sets the flag (tensor 0); fails instead of hanging on a regression.
STRATA_KERNEL(dt_wait_flag) {
  if (!strata::test::wait_flag_at_least(ctx.data<uint64_t>(0), 1, strata::test::kHandshakeTimeout))
    throw std::runtime_error("dt_wait_flag: the host never set the flag");
}

// out[i] = own[i], out[n + i] = rank `peer`'s copy of it, read through the CommContext. Tensor 0 is
// this chip's buffer, tensor 1 the peer's (only for the dependency), tensor 2 the output (2n).
STRATA_KERNEL(dt_read) {
  const CommContext* c = comm_of(ctx, 0);
  const auto peer = ctx.scalar<uint32_t>(1);
  const int64_t* own = ctx.data<int64_t>(0);
  const int64_t* theirs = peer_ptr<const int64_t>(c, peer, own);
  auto* out = ctx.data<int64_t>(2);
  const size_t n = ctx.tensor(0).numel();
  for (size_t i = 0; i < n; ++i) {
    out[i] = own[i];
    out[n + i] = theirs[i];
  }
}

// Spins for scalar 3 milliseconds (to widen the window in which a copy that did not wait would read
// stale bytes; a correct runtime passes whatever the delay), then writes value + i into rank `peer`'s
// copy of tensor 0 through the CommContext. Tensor 1 is that peer buffer, named for the dependency.
STRATA_KERNEL(dt_put_peer) {
  const CommContext* c = comm_of(ctx, 0);
  const auto peer = ctx.scalar<uint32_t>(1);
  const int64_t v = ctx.scalar<int64_t>(2);
  const auto delay = std::chrono::milliseconds(ctx.scalar<int64_t>(3));
  const auto until = Clock::now() + delay;
  while (Clock::now() < until) {
  }
  int64_t* dst = peer_ptr<int64_t>(c, peer, ctx.data<int64_t>(0));
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) dst[i] = v + static_cast<int64_t>(i);
}

STRATA_KERNEL(dt_throw) { throw std::runtime_error("dt boom " + std::to_string(ctx.scalar<int64_t>(0))); }

struct Kernels {
  strata::Kernel info, zero_scan, scribble, exchange, collect, fill, wait_flag, read, put_peer, fail;
  explicit Kernels(strata::Worker& w)
      : info(w.register_kernel("dt_info")),
        zero_scan(w.register_kernel("dt_zero_scan")),
        scribble(w.register_kernel("dt_scribble")),
        exchange(w.register_kernel("dt_exchange")),
        collect(w.register_kernel("dt_collect")),
        fill(w.register_kernel("dt_fill")),
        wait_flag(w.register_kernel("dt_wait_flag")),
        read(w.register_kernel("dt_read")),
        put_peer(w.register_kernel("dt_put_peer")),
        fail(w.register_kernel("dt_throw")) {}
};

// ---- helpers ------------------------------------------------------------------------------------------

constexpr size_t kSlots = 64;

strata::BufferSpec slots_spec() { return {"slots", DType::I64, kSlots}; }

strata::DomainSpec spec(std::string name, std::vector<int> workers, size_t window = 1 << 16,
                        std::vector<strata::BufferSpec> buffers = {slots_spec()}) {
  return {.name = std::move(name), .workers = std::move(workers), .window_size = window, .buffers = std::move(buffers)};
}

// One group task over the domain: every rank writes base + rank into slot rank of every member's "slots".
void submit_exchange(strata::Orchestrator& o, const Kernels& k, const strata::Domain& d, int64_t base) {
  std::vector<TaskArgs> args;
  for (int chip : d.workers())
    args.push_back(TaskArgs().inout(d[chip].buffer("slots")).scalar(d[chip].device_ctx).scalar(base));
  o.submit_group(k.exchange, std::move(args), {}, d.workers());
}

// Copies chip `chip`'s "slots" into out[offset, offset + kSlots) (after the exchange, by tag inference).
void submit_collect(strata::Orchestrator& o, const Kernels& k, const strata::Domain& d, int chip,
                    const strata::Buffer<int64_t>& out, size_t offset) {
  o.submit(k.collect,
           TaskArgs().input(d[chip].buffer("slots")).output_existing(strata::test::slice(out, offset, kSlots)), {},
           chip);
}

// What submit_exchange + submit_collect must produce for a domain of `size` ranks.
void expect_exchanged(const strata::Buffer<int64_t>& out, size_t offset, int size, int64_t base,
                      const std::string& where) {
  for (size_t s = 0; s < kSlots; ++s) {
    const int64_t want = s < static_cast<size_t>(size) ? base + static_cast<int64_t>(s) : 0;
    ASSERT_EQ(out[offset + s], want) << where << ", slot " << s;
  }
}

struct Range {
  uint64_t begin, end;
};
bool overlaps(Range a, Range b) { return a.begin < b.end && b.begin < a.end; }
Range window_of(const strata::ChipContext& c) { return {c.window_base, c.window_base + c.window_size}; }

// The sim chips' device memory size (a domain window is carved from it), to build windows so large that
// a leaked one makes the next allocation fail.
size_t big_window() { return static_cast<size_t>(strata::config::get_u64("sim_device_bytes")) / 10 * 6; }

}  // namespace
