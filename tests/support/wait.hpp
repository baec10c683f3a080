// tests/support/wait.hpp — bounded waiting, shared flags, and assertions on exceptions.
//
// Tests never sleep to "let something happen": they wait for a condition (a flag in shared memory, a
// process gone from /proc) with a deadline that is only an upper bound, so a regression fails instead of
// hanging and a correct run takes as long as the work itself.
//
// The flag helpers are also safe to call from kernels and host callables: they are header-only and use
// std::atomic_ref on memory that strata maps at the same address in every process.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>

namespace strata::test {

using Clock = std::chrono::steady_clock;

/// Polls `ready()` until it returns true or `timeout` has passed: first by yielding, then with sleeps
/// growing to 1 ms (so a waiter does not starve the processes it waits for on a 2-core machine).
/// Returns the last value of ready().
template <class Ready>
bool wait_until(Ready&& ready, std::chrono::nanoseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto nap = std::chrono::microseconds(10);
  for (int spins = 0;; ++spins) {
    if (ready()) return true;
    if (Clock::now() >= deadline) return ready();
    if (spins < 100) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(nap);
      nap = std::min<std::chrono::microseconds>(nap * 2, std::chrono::milliseconds(1));
    }
  }
}

/// Atomically reads a 64-bit flag that another process writes.
inline uint64_t load_flag(uint64_t* flag) { return std::atomic_ref<uint64_t>(*flag).load(std::memory_order_acquire); }
/// Atomically writes a 64-bit flag that another process reads.
inline void store_flag(uint64_t* flag, uint64_t value) {
  std::atomic_ref<uint64_t>(*flag).store(value, std::memory_order_release);
}
/// Atomically adds to a shared counter; returns the new value.
inline uint64_t add_flag(uint64_t* flag, uint64_t delta) {
  return std::atomic_ref<uint64_t>(*flag).fetch_add(delta, std::memory_order_acq_rel) + delta;
}
/// Waits until `*flag >= value`, at most `timeout`. For kernels: throw on false, so a lost hand-shake
/// fails the task with a message instead of hanging the test.
inline bool wait_flag_at_least(uint64_t* flag, uint64_t value, std::chrono::nanoseconds timeout) {
  return wait_until([&] { return load_flag(flag) >= value; }, timeout);
}

/// Milliseconds since `start`.
inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Runs `f` and returns the exception of type E it threw. If it threw nothing, or something else, the
/// test gets a failure saying so and the result is empty. Use as
/// `auto e = capture<strata::UsageError>([&] { w.run(...); }); ASSERT_TRUE(e);`
template <class E, class F>
std::optional<E> capture(F&& f, const char* what = "the call") {
  try {
    f();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << " threw " << typeid(e).name() << " (\"" << e.what() << "\"), expected "
                  << typeid(E).name();
    return std::nullopt;
  } catch (...) {
    ADD_FAILURE() << what << " threw a non-std exception, expected " << typeid(E).name();
    return std::nullopt;
  }
  ADD_FAILURE() << what << " returned normally, expected it to throw " << typeid(E).name();
  return std::nullopt;
}

/// gtest predicate-formatter: `haystack` contains `needle`.
inline ::testing::AssertionResult contains_text(const char* haystack_expr, const char* needle_expr,
                                                std::string_view haystack, std::string_view needle) {
  if (haystack.find(needle) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << haystack_expr << " does not contain " << needle_expr << "\n  text:   \""
                                       << haystack << "\"\n  wanted: \"" << needle << "\"";
}

}  // namespace strata::test

/// EXPECT/ASSERT that a string contains a substring, printing both on failure.
#define STRATA_EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::strata::test::contains_text, haystack, needle)
#define STRATA_ASSERT_CONTAINS(haystack, needle) ASSERT_PRED_FORMAT2(::strata::test::contains_text, haystack, needle)
