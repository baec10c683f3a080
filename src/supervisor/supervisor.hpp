// supervisor/supervisor.hpp — the owner of a Worker's child processes, and the parent's one progress loop.
//
// Per child: a state and a generation (bumped at every spawn), its process (pidfd), its channel
// (ipc/channel.hpp) and the frames in flight on it. States:
//   Idle      not forked (before init(), after close())
//   Starting  forked, not yet reported ready
//   Ready     takes frames
//   Lost      strata declared it lost — it missed a deadline (a task timeout, a request's timeouts.comm),
//             stayed stopped (SIGSTOP) while owing work, or broke the mailbox protocol — and killed it
//   Dead      it exited or was killed from outside
// Lost and Dead are final until respawn(). Entering either is one step, done in one place (gone()): the
// process is killed and reaped, every frame it owed fails at once (tasks through Events, requests as a
// Lost reply), and it is never posted to or waited on again.
//
// The progress loop: poll() consumes every child's completions (tasks go to Events, request replies are
// kept for wait_reply), reads each child's liveness word (the kernel marks it when the child dies, so a
// death is seen without a system call) and checks deadlines; wait() does the same and, when nothing
// happened, spins and then sleeps on the parent's event count in ppoll together with every child's
// pidfd, bounded by the nearest deadline and a slice after which stopped children are looked for; at
// most every tick_ns a wait also calls Events::on_tick (stall detection, progress reports). Every
// wait of the parent — init's ready handshake, back-pressure, drain, domain requests, close — goes
// through wait_until(), so every wait sees deaths and deadlines.
//
// A pod over MPI has remote children: no process of ours, the child's end of their channels played by
// a Remote (pod/root_link.hpp) that the progress loop pumps. They go Lost or Dead through the same gone()
// (the Remote reports a rank's death with died()); the loop cannot sleep on the transport, so it naps at
// most Remote::nap_ns() between pumps.
//
// Owned by the thread that owns the Worker; not thread-safe. Events are delivered only from inside
// poll()/wait() (and gone()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "ipc/channel.hpp"
#include "ipc/process.hpp"
#include "ipc/shm.hpp"
#include "strata/errors.hpp"
#include "trace/observer.hpp"
#include "util/sys.hpp"

namespace strata::supervisor {

enum class ChildState : uint8_t { Idle, Starting, Ready, Lost, Dead };
const char* state_name(ChildState s) noexcept;

/// A frame in flight on a child.
struct InFlight {
  uint64_t id;
  int64_t deadline_ns;  // requests: when the child is declared lost if it has not answered; 0: none
  const char* what;     // requests: what was asked ("a domain allocation"), for messages
  bool timed_task;      // a task with a timeout (the watchdog reads the child's running task)
  int64_t posted_ns;    // requests: when it was posted (for reports); tasks: 0
};

struct Child {
  ChildKind kind = ChildKind::Chip;
  int index = 0;
  int device_id = -1;  // chips only
  ChildState state = ChildState::Idle;
  uint32_t generation = 0;
  ipc::ChildProcess proc;
  ipc::ChannelParent channel;
  std::deque<InFlight> inflight;
  uint32_t timed_tasks = 0;      // entries of `inflight` with timed_task
  uint32_t deadline_frames = 0;  // entries of `inflight` with a deadline
  int64_t stopped_since = 0;     // when it was first seen stopped while owing work (0: not)
  std::string gone_how;          // once Lost or Dead: how ("died: killed by signal 9 (Killed)")
  int rank = -1;                 // a remote child: its rank in the pod (no process of ours)
  bool remote() const noexcept { return rank >= 0; }
  bool alive() const noexcept { return state == ChildState::Ready; }
};

/// A request's answer.
struct Reply {
  enum class Kind { Ok, Failed, Lost };
  Kind kind = Kind::Ok;
  bool timed_out = false;  // Lost because it missed this request's deadline
  ipc::ErrorCode code = ipc::ErrorCode::None;
  uint64_t detail = 0;
  std::string payload;  // Ok: the reply data; otherwise why it failed
};

/// What the supervisor reports (implemented by the Worker).
class Events {
 public:
  virtual ~Events() = default;
  /// A task frame completed.
  virtual void on_task_completion(const Child& c, const ipc::Completion& cpl, std::string_view payload) = 0;
  /// `c` became Lost or Dead. `ids` were in flight on it, in order (requests included, already answered
  /// as Lost); `running` is the task it ran (0: none). The messages are for those tasks' failures.
  virtual void on_child_gone(const Child& c, std::span<const uint64_t> ids, uint64_t running, int64_t running_start_ns,
                             const std::string& running_msg, const std::string& queued_msg) = 0;
  /// "task #5 'mm'", for messages about task `id`.
  virtual std::string describe_task(uint64_t id) const = 0;
  /// A wait is under way (called from wait(), at most every Options::tick_ns): the Worker's chance to
  /// notice a stall and report progress. May declare children lost, or throw out of the wait.
  virtual void on_tick(int64_t now_ns) = 0;
};

/// The far end of remote children (a pod's ranks over MPI): plays the child's end of their channels.
class Remote {
 public:
  virtual ~Remote() = default;
  /// Moves posted frames out and answers in; reports a rank that died or stopped answering through
  /// Supervisor::died(). Never blocks. Returns whether anything moved.
  virtual bool pump() = 0;
  /// The longest the progress loop may sleep before pumping again.
  virtual int64_t nap_ns() const noexcept = 0;
  /// `c` became Lost or Dead: stop talking to it (and tell it to stop, if it can hear).
  virtual void dismiss(Child& c, const std::string& why) noexcept = 0;
  /// Tells every live remote child to exit and waits up to `timeout_ns` for their goodbyes.
  virtual void shutdown(int64_t timeout_ns) noexcept = 0;
};

/// A condition a waiter re-checks after announcing itself (a plain function and its argument).
struct WaitCheck {
  bool (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

class Supervisor {
 public:
  struct Options {
    int level = 3;                  // names "L<level-1> worker i" children
    int64_t spin_ns = 50'000;       // spin before sleeping
    int64_t stop_limit_ns = 0;      // a child stopped this long while owing work is declared lost (0: never)
    int64_t slice_ns = 20'000'000;  // longest sleep before looking for stopped children
    int64_t tick_ns = 50'000'000;   // Events::on_tick at most this often while waiting
  };

  Supervisor(Events& events, Options opts);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // ---- children ----
  /// Creates the channels and the wake-up eventfd for `kinds[i]` children (chips, subs, workers), with
  /// the chips' device ids. Before any spawn.
  void configure(int chips, int subs, int workers, const std::vector<int>& device_ids);
  int count(ChildKind kind) const noexcept { return count_[static_cast<int>(kind)]; }
  Child& child(ChildKind kind, int index) noexcept { return children_[first_[static_cast<int>(kind)] + index]; }
  const Child& child(ChildKind kind, int index) const noexcept {
    return children_[first_[static_cast<int>(kind)] + index];
  }
  std::vector<Child>& children() noexcept { return children_; }
  std::string name(ChildKind kind, int index) const;
  std::string name(const Child& c) const { return name(c.kind, c.index); }
  ipc::ParentWake* parent_wake() const noexcept { return wake_; }

  /// Forks `c`, which runs `body` and exits with its value. State: Starting.
  void spawn(Child& c, const std::function<int()>& body);
  /// Makes the Worker children remote: child i is pod rank ranks[i], served by `remote`. Before start_remote.
  void set_remote(Remote* remote, const std::vector<int>& ranks);
  /// A remote child starts (it reports ready through its channel, like a forked one). State: Starting.
  /// `trace_pid`: its process in the trace.
  void start_remote(Child& c, int trace_pid);
  /// Waits until every Starting child is Ready. Throws Error naming a child that failed to start or died,
  /// TimeoutError naming the pending ones at `deadline_ns` (the caller tears everything down).
  void wait_ready(int64_t deadline_ns, const char* what, const char* knob);

  // ---- frames ----
  bool has_room(const Child& c) const noexcept { return c.alive() && c.channel.has_room(); }
  /// Frames in flight on every live child.
  uint64_t in_flight() const noexcept;
  /// Posts a task frame; see ipc::ChannelParent::post. Not visible until flush().
  void post_task(Child& c, const unsigned char* frame, size_t len, uint64_t id, std::span<const uint64_t> deps);
  /// Posts a request (a control frame) and flushes it: the child must answer by `deadline_ns` or be
  /// declared lost. Waits for room first (through the progress loop). Returns its id, to pass to
  /// wait_reply; if the child is not alive, the reply is already there (Lost).
  uint64_t post_request(Child& c, const unsigned char* frame, size_t len, int64_t deadline_ns, const char* what);
  /// Waits until request `id` of `c` is answered (or the child is gone) and returns the answer.
  Reply wait_reply(uint64_t id);
  /// Makes every posted frame visible to its child.
  void flush();

  // ---- progress ----
  /// Consumes completions, notices deaths and deadlines; never blocks. Returns how many events it
  /// delivered.
  size_t poll();
  /// poll(), and if nothing happened, sleeps until something may have (at most until `deadline_ns`);
  /// `done` is re-checked before sleeping, so a change that needs no completion is not slept through.
  void wait(int64_t deadline_ns, WaitCheck done = {});
  /// wait() until done() (true) or `deadline_ns` passes (returns done()).
  template <class Done>
  bool wait_until(Done&& done, int64_t deadline_ns);

  /// Notices children that died since the last look (their liveness words), without a system call and
  /// without consuming completions: what every public entry point calls.
  void check_health();
  /// Declares `c` lost: kills and reaps it and fails everything it owed, saying `reason`.
  void declare_lost(Child& c, const std::string& reason);
  /// `c` is gone (it exited, was killed, or a remote one stopped answering): fails everything it owed.
  void died(Child& c, const std::string& how);
  /// The task `c` runs now: its running record, if that names the oldest frame it owes.
  std::optional<ipc::RunningTask> running(const Child& c) const noexcept;
  /// Events delivered so far (completions, replies, losses): grows while the children make progress.
  size_t delivered() const noexcept { return delivered_; }
  /// The first child that is Lost or Dead, if any.
  const Child* first_gone() const noexcept;
  /// "chip 1 died: killed by signal 9 (Killed)".
  std::string gone_text(const Child& c) const;

  // ---- respawn and teardown ----
  /// Reports child starts and losses to `obs` (null: nothing).
  void set_observer(trace::Observer* obs) noexcept { obs_ = obs; }
  /// Resets a Lost or Dead child's channel for a new generation (call spawn() next).
  void prepare_respawn(Child& c);
  /// Asks every live child to exit, waits up to `timeout_ns` for all, kills the rest and reaps everything.
  /// Every child is Idle afterwards.
  void shutdown(int64_t timeout_ns) noexcept;

 private:
  void gone(Child& c, ChildState state, const std::string& how, const std::string& running_msg);
  /// Consumes what `c` posted, in order; stops at a protocol breach and returns its description.
  std::string consume(Child& c);
  void check_deadlines(int64_t now);
  void check_stopped(int64_t now);
  bool wake_due() const noexcept;
  /// Calls Events::on_tick if tick_ns has passed since the last call. A wait that did not sleep looks
  /// at the clock only every 64th time.
  void tick(bool slept);
  int64_t next_deadline() const noexcept;

  Events& events_;
  Options opts_;
  trace::Observer* obs_ = nullptr;
  Remote* remote_ = nullptr;
  ipc::SharedMapping map_;  // ParentWake page, then one Channel per child
  ipc::ParentWake* wake_ = nullptr;
  int wake_fd_ = -1;
  std::vector<Child> children_;  // chips, then subs, then workers
  int first_[3] = {0, 0, 0};
  int count_[3] = {0, 0, 0};
  std::unordered_map<uint64_t, Reply> replies_;
  uint64_t next_request_ = 0;
  size_t delivered_ = 0;  // events delivered so far (progress counter)
  int64_t last_tick_ns_ = 0;
  uint32_t waits_since_tick_ = 0;
  std::vector<pollfd> fds_;
  std::vector<Child*> fd_children_;
};

template <class Done>
bool Supervisor::wait_until(Done&& done, int64_t deadline_ns) {
  const WaitCheck check{[](void* p) { return (*static_cast<std::remove_reference_t<Done>*>(p))(); },
                        const_cast<void*>(static_cast<const void*>(&done))};
  while (!done()) {
    if (deadline_ns >= 0 && sys::now_ns() >= deadline_ns) return done();
    wait(deadline_ns, check);
  }
  return true;
}

}  // namespace strata::supervisor
