// tests/unit/comm_test_helpers.hpp — a communication domain in one process, with threads as ranks.
//
// FakeDomain gives every rank a zeroed, page-aligned window of `window_size` bytes followed by its
// signal area, and a strata_comm_context whose windows[] point at all of them: exactly the memory model
// a kernel sees on the sim backend (windows mapped at the same address in every chip process).
// run_ranks() runs a body per (rank, block) the way the sim backend runs a kernel: each rank has
// `pool` threads taking block indices in increasing order from a counter (pool 1: blocks one after the
// other; pool >= blocks: all at once). Exceptions are collected, never thrown across threads.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child/kernel_registry.hpp"
#include "strata/comm_context.h"
#include "strata/comm_kernel.hpp"
#include "strata/kernel.hpp"

namespace strata::test {

class FakeDomain {
 public:
  FakeDomain(uint32_t ranks, size_t window_size) : window_size_(window_size), ctx_(ranks), mem_(ranks) {
    for (uint32_t r = 0; r < ranks; ++r) {
      const size_t bytes = window_size + STRATA_COMM_SIGNAL_BYTES;
      mem_[r] = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
      if (mem_[r] == nullptr) throw std::bad_alloc();
      std::memset(mem_[r], 0, bytes);
    }
    for (uint32_t r = 0; r < ranks; ++r) {
      strata_comm_context& c = ctx_[r];
      std::memset(&c, 0, sizeof c);
      c.rank = r;
      c.size = ranks;
      c.window_size = window_size;
      for (uint32_t q = 0; q < ranks; ++q) c.windows[q] = reinterpret_cast<uint64_t>(mem_[q]);
      c.workspace = c.windows[r] + window_size;
      c.workspace_size = STRATA_COMM_SIGNAL_BYTES;
    }
  }
  ~FakeDomain() {
    for (void* p : mem_) std::free(p);
  }
  FakeDomain(const FakeDomain&) = delete;
  FakeDomain& operator=(const FakeDomain&) = delete;

  uint32_t size() const { return static_cast<uint32_t>(ctx_.size()); }
  size_t window_size() const { return window_size_; }
  strata_comm_context* context(uint32_t r) { return &ctx_[r]; }
  uint64_t device_ctx(uint32_t r) { return reinterpret_cast<uint64_t>(&ctx_[r]); }
  CommView view(uint32_t r) { return CommView(&ctx_[r]); }
  /// Rank r's window as T*, `offset` bytes in.
  template <class T>
  T* at(uint32_t r, size_t offset = 0) {
    return reinterpret_cast<T*>(static_cast<unsigned char*>(mem_[r]) + offset);
  }

 private:
  size_t window_size_;
  std::vector<strata_comm_context> ctx_;
  std::vector<void*> mem_;
};

/// Runs body(rank, block) for every rank and block, `pool` threads per rank; returns the failures as
/// "rank R block B: message" (empty when all succeeded).
inline std::vector<std::string> run_ranks(uint32_t ranks, uint32_t blocks, uint32_t pool,
                                          const std::function<void(uint32_t, uint32_t)>& body) {
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::atomic<uint32_t>> next(ranks);
  for (auto& n : next) n.store(0);
  std::vector<std::thread> threads;
  const uint32_t per_rank = std::max<uint32_t>(1, std::min(pool, blocks));
  for (uint32_t r = 0; r < ranks; ++r)
    for (uint32_t t = 0; t < per_rank; ++t)
      threads.emplace_back([&, r] {
        for (;;) {
          const uint32_t b = next[r].fetch_add(1);
          if (b >= blocks) return;
          try {
            body(r, b);
          } catch (const std::exception& e) {
            std::lock_guard lock(mu);
            failures.push_back("rank " + std::to_string(r) + " block " + std::to_string(b) + ": " + e.what());
          }
        }
      });
  for (auto& t : threads) t.join();
  return failures;
}

/// One call of a registered kernel with these arguments, as block `block` of `blocks`.
struct KernelCall {
  std::vector<Tensor> tensors;
  std::vector<Tag> tags;
  std::vector<uint64_t> scalars;

  void run(KernelFn fn, uint32_t block, uint32_t blocks, int worker) const {
    const TaskContext ctx(tensors, tags, scalars, /*task_id=*/1, block, blocks, worker, 0, 1);
    fn(ctx);
  }
};

inline KernelFn kernel(const char* name) {
  KernelFn fn = child::find_static_kernel(name);
  if (fn == nullptr) throw std::runtime_error(std::string("kernel not registered: ") + name);
  return fn;
}

/// What `kernel` throws when called alone (rank 0 of 1, block 0 of 1) with `call`'s arguments, or
/// "(no exception)".
inline std::string single_rank_error(const char* kernel_name, const KernelCall& call) {
  try {
    call.run(kernel(kernel_name), 0, 1, 0);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

}  // namespace strata::test
