// Integration tests of the process model: a Worker's children die with their parent even when it is
// killed outright, and init() refuses to fork from a multi-threaded process unless told it may.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <strata/strata.hpp>
#include <string>
#include <thread>
#include <vector>

#include "integration/integration_util.hpp"
#include "support/proc_scan.hpp"

namespace {

using strata::TaskArgs;
using strata::test::capture;
using strata::test::zero;

class ProcessTest : public strata::test::LeakCheckedTest {};

// Sets the flag whose address is scalar 0, then blocks until its process is killed.
STRATA_KERNEL(p_signal_then_block) {
  strata::test::store_flag(reinterpret_cast<uint64_t*>(ctx.scalar<uint64_t>(0)), 1);
  for (;;) pause();
}

// x[i] = i * v
STRATA_KERNEL(p_fill) {
  int64_t* x = ctx.data<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim())
    x[i] = static_cast<int64_t>(i) * ctx.scalar<int64_t>(0);
}

// Shared between the test and a victim process (and the victim's children, forked after it was mapped).
struct Handshake {
  uint64_t pid_count = 0;
  int64_t pids[16] = {};
  uint64_t in_run = 0;
};

// The victim's children are reparented to this process when it dies (we become their subreaper), so we
// can see them die and reap them; without it, they would go to init and a zombie could linger there.
class SubreaperGuard {
 public:
  SubreaperGuard() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~SubreaperGuard() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

TEST_F(ProcessTest, ChildrenDieWhenTheParentIsKilled) {
  STRATA_SKIP_UNDER_TSAN();  // the victim forks the Worker's children from a forked process
  SubreaperGuard subreaper;
  strata::test::SharedBlock<Handshake> hs;
  const auto shm_before = strata::test::list_dev_shm();

  strata::test::Victim victim = strata::test::Victim::spawn([&] {
    strata::Worker w({.chips = 2, .sub_workers = 1});
    auto block = w.register_kernel("p_signal_then_block");
    w.init();
    const std::vector<pid_t> kids = strata::test::child_pids(getpid());
    for (size_t i = 0; i < kids.size() && i < 16; ++i) hs->pids[i] = kids[i];
    strata::test::store_flag(&hs->pid_count, kids.size());
    w.run([&](strata::Orchestrator& o) {
      o.submit(block, TaskArgs().scalar(reinterpret_cast<uint64_t>(&hs->in_run)), {}, 1);
    });
    return 3;  // not reached: the run never ends
  });

  strata::test::wait_until(
      [&] { return strata::test::load_flag(&hs->in_run) == 1 || strata::test::process_gone(victim.pid()); },
      std::chrono::seconds(20));
  if (strata::test::load_flag(&hs->in_run) != 1) {
    auto how = victim.wait(std::chrono::seconds(1));
    FAIL() << "the victim's Worker never started its blocking task; the victim "
           << (how ? how->describe() : std::string("is still running"));
  }
  ASSERT_EQ(strata::test::load_flag(&hs->pid_count), 3u) << "expected one process per chip and per sub worker";
  std::vector<pid_t> kids;
  for (uint64_t i = 0; i < hs->pid_count; ++i) kids.push_back(static_cast<pid_t>(hs->pids[i]));
  for (pid_t k : kids) ASSERT_FALSE(strata::test::process_gone(k)) << "child " << k << " is not running";

  victim.signal(SIGKILL);
  auto how = victim.wait(std::chrono::seconds(5));
  ASSERT_TRUE(how) << "the victim did not die from SIGKILL";
  EXPECT_TRUE(how->signaled && how->value == SIGKILL) << how->describe();

  // Children exit when their parent dies (PR_SET_PDEATHSIG): within a second, not at some timeout.
  const auto start = strata::test::Clock::now();
  const bool all_gone = strata::test::wait_until(
      [&] {
        for (pid_t k : kids)
          if (!strata::test::process_gone(k)) return false;
        return true;
      },
      std::chrono::seconds(1));
  std::string alive;
  for (pid_t k : kids)
    if (!strata::test::process_gone(k)) alive += " " + std::to_string(k);
  EXPECT_TRUE(all_gone) << "children still running " << strata::test::ms_since(start)
                        << " ms after their parent was killed:" << alive;
  // Reap the ones that were reparented to us. A dying multi-threaded process can show as a zombie ('Z')
  // before its last thread is gone, when it cannot be reaped yet: so kill (a no-op for the dead) and block.
  for (const strata::test::ProcInfo& p : strata::test::scan_processes()) {
    if (p.ppid != getpid() || std::find(kids.begin(), kids.end(), p.pid) == kids.end()) continue;
    int status = 0;
    kill(p.pid, SIGKILL);
    waitpid(p.pid, &status, 0);
  }
  EXPECT_EQ(strata::test::list_dev_shm(), shm_before) << "the killed Worker left something in /dev/shm";
}

TEST_F(ProcessTest, InitRefusesAMultiThreadedProcessUnlessAllowed) {
  std::promise<void> stop;
  std::thread other([f = stop.get_future()]() mutable { f.wait(); });
  struct Joiner {
    std::promise<void>& stop;
    std::thread& t;
    ~Joiner() {
      stop.set_value();
      t.join();
    }
  } joiner{stop, other};

  {
    strata::Worker w({.chips = 1});
    w.register_kernel("p_fill");
    auto err = capture<strata::UsageError>([&] { w.init(); }, "init() with another thread running");
    ASSERT_TRUE(err);
    STRATA_EXPECT_CONTAINS(err->what(), "allow_threads");
    EXPECT_FALSE(w.initialized());
  }
  EXPECT_TRUE(strata::test::child_pids(getpid()).empty()) << "a refused init() left a child behind";
  if (strata::test::kThreadSanitizer)
    GTEST_SKIP() << "the allow_threads half forks from a multi-threaded process, whose children TSan kills as "
                    "soon as they start a thread";

  strata::Worker w({.chips = 2, .allow_threads = true});
  auto fill = w.register_kernel("p_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(100);
  zero(x);
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{-6}), {}, 1);
  });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], -6 * static_cast<int64_t>(i));
  w.close();
}

}  // namespace
