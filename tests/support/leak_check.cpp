#include "support/leak_check.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "support/proc_scan.hpp"
#include "support/sanitizers.hpp"
#include "support/wait.hpp"

namespace strata::test {
namespace {

std::map<pid_t, std::string> new_descendants(const ResourceSnapshot& before) {
  std::map<pid_t, std::string> out;
  for (const auto& [pid, what] : descendants_of(getpid()))
    if (!before.descendants.count(pid)) out[pid] = what;
  return out;
}

}  // namespace

ResourceSnapshot ResourceSnapshot::take() {
  ResourceSnapshot s;
  s.descendants = descendants_of(getpid());
  s.shm = list_dev_shm();
  s.fds = list_open_fds();
  s.threads = thread_count();
  return s;
}

std::string find_leaks(const ResourceSnapshot& before, int settle_ms) {
  std::ostringstream out;
  // A process killed a moment ago may still be on its way out (or be reparented); give it a bounded
  // moment. A leaked zombie child never goes away by itself, so this only costs time on failure.
  // The same holds for a thread that was just joined: its /proc/self/task entry goes a moment later.
  wait_until([&] { return new_descendants(before).empty() && (thread_count() == before.threads || kThreadSanitizer); },
             std::chrono::milliseconds(settle_ms));
  for (const auto& [pid, what] : new_descendants(before)) out << "  process left behind: " << what << "\n";
  for (const std::string& name : list_dev_shm())
    if (!before.shm.count(name)) out << "  /dev/shm entry left behind: /dev/shm/" << name << "\n";
  for (const auto& [fd, target] : list_open_fds())
    if (!before.fds.count(fd)) out << "  descriptor left open: fd " << fd << " -> " << target << "\n";
  const int threads = thread_count();
  // TSan starts a background thread of its own lazily (around the first fork): not the test's doing.
  if (threads != before.threads && !kThreadSanitizer)
    out << "  thread count changed: " << before.threads << " before the test, " << threads << " after\n";
  return out.str();
}

void kill_leaked(const ResourceSnapshot& before) {
  for (const auto& [pid, what] : new_descendants(before)) kill(pid, SIGKILL);
  for (const auto& [pid, what] : new_descendants(before)) {
    int status = 0;
    waitpid(pid, &status, 0);  // fails harmlessly (ECHILD) for grandchildren
  }
}

void LeakCheckedTest::SetUp() { before_ = ResourceSnapshot::take(); }

void LeakCheckedTest::TearDown() {
  const std::string leaks = find_leaks(before_);
  if (!leaks.empty()) {
    ADD_FAILURE() << "the test left resources behind (strata must release everything on close()):\n" << leaks;
    kill_leaked(before_);
  }
}

}  // namespace strata::test
