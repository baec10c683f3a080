// supervisor/supervisor.cpp — children's life: configure, spawn, ready handshake, loss and death,
// respawn, shutdown (the progress loop is in progress.cpp).
#include "supervisor/supervisor.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "ipc/codec.hpp"
#include "ipc/shm.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"
#include "util/text.hpp"

namespace strata::supervisor {

const char* state_name(ChildState s) noexcept {
  switch (s) {
    case ChildState::Idle:
      return "idle";
    case ChildState::Starting:
      return "starting";
    case ChildState::Ready:
      return "ready";
    case ChildState::Lost:
      return "lost";
    case ChildState::Dead:
      return "dead";
  }
  return "?";
}

Supervisor::Supervisor(Events& events, Options opts) : events_(events), opts_(opts) {}

Supervisor::~Supervisor() {
  shutdown(0);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Supervisor::configure(int chips, int subs, int workers, const std::vector<int>& device_ids) {
  const int total = chips + subs + workers;
  count_[0] = chips;
  count_[1] = subs;
  count_[2] = workers;
  first_[0] = 0;
  first_[1] = chips;
  first_[2] = chips + subs;
  map_ = ipc::SharedMapping(4096 + sizeof(ipc::Channel) * static_cast<size_t>(std::max(total, 1)));
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) sys::throw_errno("eventfd");
  wake_ = static_cast<ipc::ParentWake*>(map_.data());
  wake_->event = ipc::EventWord{};
  wake_->wake_fd = wake_fd_;
  auto* channels = reinterpret_cast<ipc::Channel*>(static_cast<char*>(map_.data()) + 4096);
  children_.resize(static_cast<size_t>(total));
  for (int i = 0; i < total; ++i) {
    Child& c = children_[static_cast<size_t>(i)];
    c.kind = i < chips ? ChildKind::Chip : i < chips + subs ? ChildKind::Sub : ChildKind::Worker;
    c.index = i - first_[static_cast<int>(c.kind)];
    c.device_id = c.kind == ChildKind::Chip ? device_ids[static_cast<size_t>(c.index)] : -1;
    c.channel = ipc::ChannelParent(channels + i);
    c.channel.reset(static_cast<uint32_t>(c.kind), c.index, 0);
    ipc::prefault(channels + i, ipc::kChannelHotBytes);
  }
}

std::string Supervisor::name(ChildKind kind, int index) const {
  if (kind == ChildKind::Worker) {
    const std::string level = "L" + std::to_string(opts_.level - 1);
    const Child& c = child(kind, index);
    if (c.remote()) return "rank " + std::to_string(c.rank) + " (" + level + ")";
    return level + " worker " + std::to_string(index);
  }
  return std::string(child_kind_name(kind)) + " " + std::to_string(index);
}

void Supervisor::spawn(Child& c, const std::function<int()>& body) {
  c.proc = ipc::ChildProcess::spawn(body);
  c.state = ChildState::Starting;
  c.gone_how.clear();
  c.stopped_since = 0;
  STRATA_LOG_DEBUG("proc", "forked %s (generation %u) as pid %d", name(c).c_str(), c.generation,
                   static_cast<int>(c.proc.pid()));
  STRATA_OBSERVE(obs_, child_started(c.kind, c.index, static_cast<int>(c.proc.pid()), c.generation, name(c)));
}

void Supervisor::set_remote(Remote* remote, const std::vector<int>& ranks) {
  remote_ = remote;
  for (int i = 0; i < count(ChildKind::Worker) && i < static_cast<int>(ranks.size()); ++i)
    child(ChildKind::Worker, i).rank = ranks[static_cast<size_t>(i)];
}

void Supervisor::start_remote(Child& c, int trace_pid) {
  c.state = ChildState::Starting;
  c.gone_how.clear();
  c.stopped_since = 0;
  STRATA_OBSERVE(obs_, child_started(c.kind, c.index, trace_pid, c.generation, name(c)));
}

void Supervisor::wait_ready(int64_t deadline_ns, const char* what, const char* knob) {
  auto all_ready = [&] {
    for (Child& c : children_) {
      if (c.state != ChildState::Starting) continue;
      const ipc::ChildState s = c.channel.state();
      if (s == ipc::ChildState::Ready) {
        c.state = ChildState::Ready;
      } else if (s == ipc::ChildState::InitFailed) {
        throw Error(std::string(what) + ": " + name(c) + " failed to start: " + std::string(c.channel.init_message()));
      } else {
        std::string how;
        if (c.proc.try_reap(&how)) throw Error(std::string(what) + ": " + name(c) + " died while starting: " + how);
        return false;
      }
    }
    return true;
  };
  if (wait_until(all_ready, deadline_ns)) return;
  std::vector<std::string> pending;
  for (const Child& c : children_)
    if (c.state == ChildState::Starting) pending.push_back(name(c));
  throw TimeoutError(std::string(what) + ": no ready report from " + util::join(pending) +
                     " within the deadline; raise " + knob);
}

uint64_t Supervisor::in_flight() const noexcept {
  uint64_t n = 0;
  for (const Child& c : children_)
    if (c.alive()) n += c.channel.in_flight();
  return n;
}

void Supervisor::post_task(Child& c, const unsigned char* frame, size_t len, uint64_t id,
                           std::span<const uint64_t> deps) {
  int64_t timeout_ns = 0;
  std::memcpy(&timeout_ns, frame + offsetof(ipc::FrameHeader, timeout_ns), sizeof timeout_ns);
  c.channel.post(frame, len, id, deps);
  c.inflight.push_back(InFlight{id, 0, nullptr, timeout_ns > 0, 0});
  if (timeout_ns > 0) ++c.timed_tasks;
}

void Supervisor::flush() {
  for (Child& c : children_)
    if (c.alive()) c.channel.flush();
}

uint64_t Supervisor::post_request(Child& c, const unsigned char* frame, size_t len, int64_t deadline_ns,
                                  const char* what) {
  const uint64_t id = ipc::kControlIdBit | ++next_request_;
  // Room comes as the child completes what it was given before; a child gone meanwhile answers Lost.
  wait_until([&] { return !c.alive() || c.channel.has_room(); }, -1);
  if (!c.alive()) {
    replies_[id] = Reply{Reply::Kind::Lost, false, ipc::ErrorCode::None, 0, name(c) + " " + c.gone_how};
    return id;
  }
  c.channel.post(frame, len, id, {});
  c.inflight.push_back(InFlight{id, deadline_ns, what, false, sys::now_ns()});
  if (deadline_ns > 0) ++c.deadline_frames;
  c.channel.flush();
  return id;
}

Reply Supervisor::wait_reply(uint64_t id) {
  wait_until([&] { return replies_.count(id) != 0; }, -1);
  auto it = replies_.find(id);
  Reply r = std::move(it->second);
  replies_.erase(it);
  return r;
}

void Supervisor::declare_lost(Child& c, const std::string& reason) {
  if (c.state != ChildState::Ready && c.state != ChildState::Starting) return;
  const std::string who = name(c);
  STRATA_LOG_WARN("proc", "%s declared lost: %s", who.c_str(), reason.c_str());
  gone(c, ChildState::Lost, "was declared lost: " + reason, reason + ", so " + who + " was declared lost and killed");
}

void Supervisor::died(Child& c, const std::string& how) {
  const std::string who = name(c);
  STRATA_LOG_INFO("proc", "%s died: %s", who.c_str(), how.c_str());
  gone(c, ChildState::Dead, "died: " + how, who + " died while running it: " + how);
}

void Supervisor::gone(Child& c, ChildState state, const std::string& how, const std::string& running_msg) {
  // The tasks it owed but had not started say what the scheduler says of a task it cannot push to it.
  const std::string queued_msg = "not run: " + name(c) + " " + how;
  // What it posted before going is still valid: take it first (up to a breach, if it broke the protocol).
  (void)consume(c);
  // The last task the child started is the one it was running if it is still the oldest it owes.
  const ipc::RunningTask last = c.channel.running();
  const uint64_t running = !c.inflight.empty() && c.inflight.front().id == last.task ? last.task : 0;
  STRATA_OBSERVE(obs_, mark(state == ChildState::Lost ? trace::Mark::Lost : trace::Mark::Died, c.kind, c.index,
                            sys::now_ns(), how));
  c.proc.kill();
  c.proc.reap(0);
  if (c.remote() && remote_) remote_->dismiss(c, how);
  c.state = state;
  c.gone_how = how;
  std::vector<uint64_t> ids;
  ids.reserve(c.inflight.size());
  for (const InFlight& f : c.inflight) {
    ids.push_back(f.id);
    if (f.id & ipc::kControlIdBit) {
      const bool timed_out = state == ChildState::Lost && f.deadline_ns > 0 && sys::now_ns() >= f.deadline_ns;
      replies_[f.id] = Reply{Reply::Kind::Lost, timed_out, ipc::ErrorCode::None, 0, name(c) + " " + how};
    }
  }
  c.inflight.clear();
  c.timed_tasks = 0;
  c.deadline_frames = 0;
  ++delivered_;
  events_.on_child_gone(c, ids, running, running ? last.start_ns : 0, running_msg, queued_msg);
}

const Child* Supervisor::first_gone() const noexcept {
  for (const Child& c : children_)
    if (c.state == ChildState::Lost || c.state == ChildState::Dead) return &c;
  return nullptr;
}

std::string Supervisor::gone_text(const Child& c) const { return name(c) + " " + c.gone_how; }

void Supervisor::prepare_respawn(Child& c) {
  c.proc = ipc::ChildProcess();
  c.channel.reset(static_cast<uint32_t>(c.kind), c.index, ++c.generation);
  c.inflight.clear();
  c.timed_tasks = 0;
  c.deadline_frames = 0;
  c.state = ChildState::Idle;
}

void Supervisor::shutdown(int64_t timeout_ns) noexcept {
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_shutdown(frame);
  for (Child& c : children_) {
    if (c.state == ChildState::Ready && c.channel.has_room()) {
      c.channel.post(frame, len, 0, {});
      c.channel.flush();
    } else if (c.proc.running()) {
      c.proc.kill();
    }
  }
  const int64_t deadline = sys::now_ns() + timeout_ns;
  if (remote_) remote_->shutdown(timeout_ns);
  for (Child& c : children_) {
    if (c.proc.running()) {
      const int64_t left_ms = std::max<int64_t>(0, (deadline - sys::now_ns()) / 1000000);
      const std::string how = c.proc.reap(static_cast<int>(std::min<int64_t>(left_ms, INT32_MAX)));
      STRATA_LOG_DEBUG("proc", "%s %s", name(c).c_str(), how.c_str());
    }
    c.state = ChildState::Idle;
    c.inflight.clear();
  }
  replies_.clear();
}

}  // namespace strata::supervisor
