// tests/support/sanitizers.hpp — what the sanitizer a test was built with cannot support.
//
// ThreadSanitizer runs a background thread of its own in every process that has forked, and it refuses
// to let a process forked from a multi-threaded one start threads ("starting new threads after
// multi-threaded fork is not supported"). So under TSan a process forked by a test (a victim, a level-4
// Worker's node) is multi-threaded, and the chips it forks die as soon as they start their block pool.
// Tests that need such nested forks skip under TSan and run in the other builds.
#pragma once

#include <gtest/gtest.h>

namespace strata::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

}  // namespace strata::test

/// Skips the current test in a ThreadSanitizer build: it forks from a process that TSan has made
/// multi-threaded, which TSan does not support.
#define STRATA_SKIP_UNDER_TSAN()                                                                            \
  do {                                                                                                      \
    if (::strata::test::kThreadSanitizer)                                                                   \
      GTEST_SKIP() << "ThreadSanitizer does not support threads in a process forked from a multi-threaded " \
                      "one (its own background thread counts), and this test forks below a fork";           \
  } while (0)
