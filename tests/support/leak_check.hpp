// tests/support/leak_check.hpp — fail a test that leaves a process, a descriptor, a thread or a
// /dev/shm entry behind.
//
// strata promises (SPEC §3) that close() leaves no child process and nothing in /dev/shm, and that it
// starts no thread in the caller. LeakCheckedTest records what the test process holds before each test
// and compares after it:
//   - descendants (children, grandchildren, ... found by walking /proc/*/stat ppid links), zombies
//     included: a child that was never reaped is a leak too;
//   - entries of /dev/shm;
//   - open descriptors of this process (reported with what they point at);
//   - threads of this process.
// Anything new fails the test with a message listing it; leaked processes are then killed and reaped so
// the next test in the same executable starts clean.
//
// Keep the Workers of a test local to the test body (not fixture members): they must be destroyed before
// TearDown() runs the check.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <set>
#include <string>

namespace strata::test {

/// What the calling process holds at one moment.
struct ResourceSnapshot {
  std::map<pid_t, std::string> descendants;
  std::set<std::string> shm;
  std::map<int, std::string> fds;
  int threads = 0;

  static ResourceSnapshot take();
};

/// Compares `before` with the present. Returns "" when nothing new exists, else one line per leak.
/// Waits (at most `settle_ms`, polling) for descendants that are still exiting to disappear before it
/// calls them leaked; a process that stays is reported.
std::string find_leaks(const ResourceSnapshot& before, int settle_ms = 2000);

/// SIGKILLs every descendant not in `before` and reaps the ones that are our children.
void kill_leaked(const ResourceSnapshot& before);

/// Fixture base: every test derived from it fails if it leaks (see the file comment).
class LeakCheckedTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  const ResourceSnapshot& baseline() const { return before_; }

 private:
  ResourceSnapshot before_;
};

}  // namespace strata::test
