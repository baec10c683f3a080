// Unit tests of graph::Scheduler against a fake link: no processes, no shared memory beyond a board in
// this process. The fake keeps each child's posted frames in order and "runs" them when the scheduler
// waits for progress, completing each as the test scripted (ok, failed) — so dependencies, the frames'
// producer lists, failure propagation, fail-fast cancellation, child loss and back-pressure are checked
// deterministically.
#include "graph/scheduler.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ipc/codec.hpp"

namespace strata::graph {
namespace {

struct Posted {
  uint64_t task;
  std::vector<uint64_t> deps;
  uint32_t part;
};

// A Link whose children are queues. wait() completes the oldest frame of every live child whose
// producers have all finished (as a real child waits for them on the board).
class FakeLink final : public Link {
 public:
  FakeLink(int chips, int subs) : count_{chips, subs, 0}, queues_(static_cast<size_t>(chips + subs)) {
    alive_.assign(queues_.size(), true);
  }
  Scheduler* sched = nullptr;
  uint64_t room = 256;                          // frames a child takes
  std::set<uint64_t> fail;                      // tasks that fail when run
  std::vector<Posted> log;                      // every post, in order, with its child
  std::vector<std::pair<int, uint64_t>> where;  // (child slot, task) of every post
  std::set<uint64_t> done;                      // tasks run (ok or failed)
  bool stall = false;                           // wait() makes no progress

  int count(ChildKind k) const noexcept override { return count_[static_cast<int>(k)]; }
  bool alive(ChildKind k, int i) const noexcept override { return alive_[slot(k, i)]; }
  std::string gone(ChildKind, int) const override { return "died: killed by signal 9 (Killed)"; }
  std::string name(ChildKind k, int i) const override {
    return std::string(child_kind_name(k)) + " " + std::to_string(i);
  }
  uint64_t load(ChildKind k, int i) const noexcept override { return queues_[slot(k, i)].size(); }
  bool has_room(ChildKind k, int i) const noexcept override { return alive(k, i) && load(k, i) < room; }
  uint64_t in_flight() const noexcept override {
    uint64_t n = 0;
    for (size_t s = 0; s < queues_.size(); ++s)
      if (alive_[s]) n += queues_[s].size();
    return n;
  }
  void post(ChildKind k, int i, const unsigned char* frame, size_t, uint64_t task,
            std::span<const uint64_t> deps) override {
    ipc::FrameHeader h;
    std::memcpy(&h, frame, sizeof h);
    Posted p{task, {deps.begin(), deps.end()}, h.part};
    queues_[slot(k, i)].push_back(p);
    log.push_back(p);
    where.emplace_back(static_cast<int>(slot(k, i)), task);
  }
  void flush() override {}
  void poll() override {}
  void wait(int64_t) override {
    if (stall) return;
    bool any = true;
    while (any) {
      any = false;
      for (size_t s = 0; s < queues_.size(); ++s) {
        if (!alive_[s] || queues_[s].empty()) continue;
        const Posted p = queues_[s].front();
        bool ready = true;
        for (uint64_t d : p.deps) ready &= done.count(d) != 0;
        if (!ready) continue;
        queues_[s].pop_front();
        done.insert(p.task);
        const ChildKind k = s < static_cast<size_t>(count_[0]) ? ChildKind::Chip : ChildKind::Sub;
        const int idx = k == ChildKind::Chip ? static_cast<int>(s) : static_cast<int>(s) - count_[0];
        const bool failed = fail.count(p.task) != 0;
        sched->on_completion(p.task, p.part, k, idx, failed ? ipc::Status::Failed : ipc::Status::Ok,
                             failed ? "scripted failure" : "", 0, 0, 0);
        any = true;
        return;  // one completion per wait: the scheduler re-pumps in between
      }
    }
  }
  // The child dies with everything queued on it; the first frame was running.
  void kill(ChildKind k, int i) {
    const size_t s = slot(k, i);
    alive_[s] = false;
    std::vector<uint64_t> ids;
    for (const Posted& p : queues_[s]) ids.push_back(p.task);
    queues_[s].clear();
    sched->on_lost(k, i, ids, ids.empty() ? 0 : ids.front(), 0, name(k, i) + " died while running it",
                   "not run: " + name(k, i) + " died");
  }
  size_t slot(ChildKind k, int i) const { return static_cast<size_t>(k == ChildKind::Chip ? i : count_[0] + i); }

 private:
  int count_[3];
  std::vector<std::deque<Posted>> queues_;
  std::vector<bool> alive_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void make(int chips, int subs, SchedulerOptions o = {}) {
    link_ = std::make_unique<FakeLink>(chips, subs);
    board_mem_.assign(ipc::Board::bytes_for(o.ring_slots) + 64, 0);
    auto* aligned =
        reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(board_mem_.data()) + 63) & ~uintptr_t{63});
    board_ = reinterpret_cast<ipc::Board*>(aligned);
    ipc::board_init(board_, o.ring_slots);
    heap_mem_.assign(1 << 20, 0);
    sched_ =
        std::make_unique<Scheduler>(*link_, board_, memory::HeapRing(heap_mem_.data(), heap_mem_.size()), nullptr, o);
    link_->sched = sched_.get();
    sched_->begin_run();
  }
  // A task on chip `chip` (kAnyWorker: any) touching `tensors` with `tags`.
  uint64_t task(int chip, std::vector<std::pair<void*, Tag>> tensors, ChildKind kind = ChildKind::Chip) {
    TaskArgs a;
    for (auto& [p, tag] : tensors) a.add(Tensor::make(p, {4}, DType::F32), tag);
    Submission s;
    s.kind = kind;
    s.name = &name_;
    s.parts = {&a, 1};
    s.members = {&chip, 1};
    return sched_->submit(s).id;
  }
  const Posted& posted(uint64_t id) const {
    for (const Posted& p : link_->log)
      if (p.task == id) return p;
    static const Posted none{0, {}, 0};
    ADD_FAILURE() << "task " << id << " was never posted";
    return none;
  }
  bool was_posted(uint64_t id) const {
    for (const Posted& p : link_->log)
      if (p.task == id) return true;
    return false;
  }

  std::string name_ = "k";
  std::unique_ptr<FakeLink> link_;
  std::vector<unsigned char> board_mem_, heap_mem_;
  ipc::Board* board_ = nullptr;
  std::unique_ptr<Scheduler> sched_;
  float x_[4], y_[4], z_[4];
};

TEST_F(SchedulerTest, ChainIsPushedAheadNamingEachProducer) {
  make(2, 0);
  uint64_t prev = 0;
  for (int i = 0; i < 10; ++i) {
    const uint64_t id = task(i % 2, {{x_, Tag::InOut}});
    EXPECT_TRUE(was_posted(id)) << "pushed before its producer finished";
    if (prev) {
      EXPECT_EQ(posted(id).deps, (std::vector<uint64_t>{prev}));
    }
    prev = id;
  }
  sched_->drain();
  EXPECT_EQ(link_->done.size(), 10u);
  EXPECT_FALSE(sched_->failure());
}

// Regression: a writer on another chip ran while an earlier reader still read (write-after-read).
TEST_F(SchedulerTest, WriterAfterReadersWaitsForThem) {
  make(3, 0);
  const uint64_t w = task(0, {{x_, Tag::Output}});
  const uint64_t r1 = task(1, {{x_, Tag::Input}});
  const uint64_t r2 = task(2, {{x_, Tag::Input}});
  const uint64_t w2 = task(0, {{x_, Tag::OutputExisting}});
  EXPECT_EQ(posted(r1).deps, (std::vector<uint64_t>{w}));
  EXPECT_EQ(posted(w2).deps, (std::vector<uint64_t>{w, r1, r2}));
  sched_->drain();
}

TEST_F(SchedulerTest, TaskWithMoreThanEightUnfinishedProducersWaitsInTheParent) {
  make(2, 0);
  link_->stall = true;  // nothing finishes until we say so
  std::vector<float> cells(40);
  std::vector<uint64_t> producers;
  for (int i = 0; i < 10; ++i) producers.push_back(task(0, {{&cells[static_cast<size_t>(i) * 4], Tag::Output}}));
  std::vector<std::pair<void*, Tag>> ins;
  for (int i = 0; i < 10; ++i) ins.emplace_back(&cells[static_cast<size_t>(i) * 4], Tag::Input);
  const uint64_t consumer = task(1, ins);
  EXPECT_FALSE(was_posted(consumer)) << "10 unfinished producers: held back";
  link_->stall = false;
  link_->wait(-1);  // producer 1 finishes
  link_->wait(-1);  // producer 2 finishes: 8 left
  sched_->drain();
  ASSERT_TRUE(was_posted(consumer));
  EXPECT_LE(posted(consumer).deps.size(), ipc::kMaxFrameDeps);
  EXPECT_EQ(link_->done.count(consumer), 1u);
}

TEST_F(SchedulerTest, GroupPartsArePushedTogetherAndConsumersWaitForTheGroup) {
  make(3, 0);
  TaskArgs a, b;
  a.inout(Tensor::make(x_, {4}, DType::F32));
  b.inout(Tensor::make(y_, {4}, DType::F32));
  std::vector<TaskArgs> parts{a, b};
  const std::vector<int> members{1, 2};
  Submission s;
  s.name = &name_;
  s.parts = parts;
  s.members = members;
  const uint64_t g = sched_->submit(s).id;
  int seen = 0;
  for (const Posted& p : link_->log) seen += p.task == g;
  EXPECT_EQ(seen, 2);
  const uint64_t c = task(0, {{y_, Tag::Input}});
  EXPECT_EQ(posted(c).deps, (std::vector<uint64_t>{g}));
  sched_->drain();
}

TEST_F(SchedulerTest, FailurePoisonsConsumersAndFailFastCancelsTheRest) {
  make(2, 0);
  link_->stall = true;
  const uint64_t a = task(0, {{x_, Tag::Output}});
  link_->fail.insert(a);
  const uint64_t b = task(1, {{x_, Tag::Input}});  // pushed: poisoned through the board
  link_->room = 0;                                 // nothing more fits: the next tasks stay unpushed
  const uint64_t c = task(1, {{y_, Tag::Output}});
  EXPECT_FALSE(was_posted(c));
  link_->stall = false;
  link_->room = 256;
  link_->wait(-1);  // a fails
  ASSERT_TRUE(sched_->failure());
  EXPECT_EQ(sched_->failure()->task, a);
  EXPECT_EQ(sched_->outcome_of(c), Outcome::Cancelled) << "not pushed when the run failed";
  EXPECT_NE(ipc::board_state(board_, c), ipc::TaskState::Pending);
  // The next submit throws the run's failure.
  try {
    task(0, {{z_, Tag::Output}});
    ADD_FAILURE() << "submit after a failure did not throw";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.task_id(), a);
    EXPECT_NE(std::string(e.what()).find("scripted failure"), std::string::npos);
  }
  (void)b;
  sched_->drain();
}

TEST_F(SchedulerTest, WithoutFailFastIndependentTasksStillRun) {
  SchedulerOptions o;
  o.fail_fast = false;
  make(2, 0, o);
  const uint64_t a = task(0, {{x_, Tag::Output}});
  link_->fail.insert(a);
  sched_->drain();
  const uint64_t dep = task(1, {{x_, Tag::Input}});
  const uint64_t ind = task(1, {{y_, Tag::Output}});
  sched_->drain();
  EXPECT_EQ(sched_->outcome_of(dep), Outcome::Poisoned);
  EXPECT_EQ(link_->done.count(ind), 1u);
  EXPECT_EQ(sched_->failure()->task, a);
}

TEST_F(SchedulerTest, LostChildFailsItsTasksAndLaterOnesWithoutPushingThem) {
  make(2, 0);
  link_->stall = true;
  const uint64_t a = task(0, {{x_, Tag::InOut}});
  const uint64_t b = task(0, {{y_, Tag::InOut}});
  link_->kill(ChildKind::Chip, 0);
  ASSERT_TRUE(sched_->failure());
  EXPECT_EQ(sched_->failure()->task, a) << "the task it was running is the run's failure";
  EXPECT_EQ(sched_->failure()->outcome, Outcome::Failed);
  EXPECT_EQ(sched_->outcome_of(b), Outcome::Poisoned);
  link_->stall = false;
  sched_->drain();
}

TEST_F(SchedulerTest, AnyWorkerTasksAvoidADeadChild) {
  SchedulerOptions o;
  o.fail_fast = false;
  make(2, 0, o);
  link_->kill(ChildKind::Chip, 0);
  for (int i = 0; i < 20; ++i) task(kAnyWorker, {});
  sched_->drain();
  for (auto& [slot, id] : link_->where) EXPECT_EQ(slot, 1) << "task " << id << " went to the dead chip";
  EXPECT_EQ(link_->done.size(), 20u);
}

TEST_F(SchedulerTest, FullRingTimesOutNamingTheKnob) {
  SchedulerOptions o;
  o.ring_slots = 4;
  o.submit_timeout_ns = 20'000'000;
  make(1, 0, o);
  link_->stall = true;
  for (int i = 0; i < 4; ++i) task(0, {});
  try {
    task(0, {});
    ADD_FAILURE() << "no back-pressure timeout";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("task_ring"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("the oldest unfinished task is #1"), std::string::npos) << e.what();
  }
  link_->stall = false;
  sched_->drain();
}

TEST_F(SchedulerTest, LargeFramesInALargeRingWaitForRoomForFramesAndTimeOutNamingTheKnob) {
  // Frames of ~1 KiB (a tensor and 100 scalars) in a ring of 8192 tasks: the ring of frames (4096 of the
  // largest frames, graph/frame_ring.hpp) fills first, and submit waits for it like for a task slot.
  SchedulerOptions o;
  o.ring_slots = 8192;
  o.submit_timeout_ns = 20'000'000;
  make(1, 0, o);
  link_->stall = true;
  float x[4] = {};
  size_t submitted = 0;
  try {
    for (; submitted < o.ring_slots; ++submitted) {
      TaskArgs a;
      a.add(Tensor::make(x, {4}, DType::F32), Tag::Input);
      for (uint64_t k = 0; k < 100; ++k) a.scalar(k);
      Submission s;
      s.name = &name_;
      s.parts = {&a, 1};
      int chip = 0;
      s.members = {&chip, 1};
      sched_->submit(s);
    }
    ADD_FAILURE() << "no back-pressure from the ring of frames";
  } catch (const TimeoutError& e) {
    const std::string msg = e.what();
    EXPECT_GE(submitted, 4096u);
    EXPECT_LT(submitted, size_t{o.ring_slots});
    EXPECT_NE(msg.find("the frames of the " + std::to_string(submitted) + " tasks in flight fill"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("task_ring"), std::string::npos) << msg;
  }
  link_->stall = false;
  sched_->drain();
  EXPECT_EQ(link_->done.size(), submitted);
}

TEST_F(SchedulerTest, NullOutputIsAllocatedFromTheHeapAndReadableAfter) {
  make(2, 0);
  TaskArgs a;
  a.output(Tensor::make(nullptr, {64}, DType::F32));
  Submission s;
  s.name = &name_;
  s.parts = {&a, 1};
  int chip = 0;
  s.members = {&chip, 1};
  const TaskRef ref = sched_->submit(s);
  ASSERT_NE(ref.tensor(0).data, nullptr);
  const uint64_t reader = task(1, {{ref.tensor(0).data, Tag::Input}});
  EXPECT_EQ(posted(reader).deps, (std::vector<uint64_t>{ref.id}));
  sched_->drain();
}

}  // namespace
}  // namespace strata::graph
