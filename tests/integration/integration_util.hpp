// tests/integration/integration_util.hpp — small helpers shared by the integration tests.
//
// Every integration fixture derives from strata::test::LeakCheckedTest: a test fails if it leaves a
// process, a descriptor, a thread or a /dev/shm entry behind. Workers and buffers live in the test body
// so they are gone before the check runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <strata/strata.hpp>

#include "support/leak_check.hpp"
#include "support/sanitizers.hpp"
#include "support/victim.hpp"
#include "support/wait.hpp"

namespace strata::test {

/// `count` elements of `buf` from `offset`, as a tensor with its own base address (so the scheduler
/// tracks it apart from the rest of the buffer).
template <class T>
Tensor slice(const Buffer<T>& buf, size_t offset, size_t count) {
  return Tensor::of(buf.data() + offset, static_cast<int64_t>(count));
}

/// Fills a buffer with zeros: a test never relies on fresh memory being zero.
template <class T>
void zero(const Buffer<T>& buf) {
  std::fill(buf.begin(), buf.end(), T{});
}

/// Bounds for hand-shakes inside kernels: only an upper limit, reached only when a regression hangs.
inline constexpr std::chrono::seconds kHandshakeTimeout{5};

}  // namespace strata::test
