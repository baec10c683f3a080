// pod/root_link.cpp — the root's side of a pod over MPI (see root_link.hpp).
#include "pod/root_link.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "util/log.hpp"
#include "util/sys.hpp"
#include "util/text.hpp"

namespace strata::pod {
namespace {

// Receives the control message waiting from `source` (probe() found it); false if it is malformed.
bool receive_message(Mpi& mpi, int source, size_t bytes, MessageHeader* h, std::string* payload) {
  std::string buf(std::max(bytes, sizeof(MessageHeader)), '\0');
  mpi.recv_probed(buf.data(), bytes, source, kTagControl);
  return read_message(buf.data(), bytes, h, payload);
}
}  // namespace

RootLink::RootLink(supervisor::Supervisor& sup, ipc::Board* board, const void* base, size_t buffer_bytes,
                   size_t heap_bytes, int64_t heartbeat_ns, size_t trace_bytes)
    : sup_(sup),
      board_(board),
      mpi_(Mpi::get()),
      base_(static_cast<const char*>(base)),
      bytes_(buffer_bytes + heap_bytes),
      buffer_bytes_(buffer_bytes),
      heap_bytes_(heap_bytes),
      heartbeat_ns_(heartbeat_ns),
      trace_bytes_(trace_bytes),
      decoded_(std::make_unique<ipc::DecodedFrame>()) {
  ranks_.resize(static_cast<size_t>(std::max(mpi_.size() - 1, 0)));
}

RootLink::~RootLink() {
  for (Rank& r : ranks_) {
    release(r);
    if (r.pidfd >= 0) ::close(r.pidfd);
  }
  release_outgoing();
}

void RootLink::release(Rank& r) noexcept {
  // Data to a rank that will not take it: the send reads rank 0's strata memory, which outlives it.
  for (Request& q : r.data) mpi_.abandon(&q);
  for (Request& q : r.incoming) mpi_.withdraw_recv(&q);
  mpi_.withdraw_recv(&r.inbox_req, &r.inbox);
  if (r.trace_req) {
    mpi_.withdraw_recv(&r.trace_req, &r.trace);
    r.trace.clear();  // incomplete: never read
  }
  r.data.clear();
  r.incoming.clear();
}

void RootLink::release_outgoing() noexcept {
  for (Outgoing& o : outgoing_) mpi_.abandon(&o.req, &o.bytes);
  outgoing_.clear();
}

std::vector<int> RootLink::ranks() {
  std::vector<int> out;
  for (int r = 1; r < Mpi::get().size(); ++r) out.push_back(r);
  return out;
}

RootLink::Rank* RootLink::rank_of(int source) noexcept {
  if (source < 1 || source > static_cast<int>(ranks_.size())) return nullptr;
  return &ranks_[static_cast<size_t>(source - 1)];
}

void RootLink::handshake(const Registry& mine, int64_t deadline_ns) {
  std::vector<bool> heard(ranks_.size(), false);
  std::vector<std::string> refused;
  size_t missing = ranks_.size();
  while (missing > 0) {
    bool any = false;
    for (size_t i = 0; i < ranks_.size(); ++i) {
      size_t bytes = 0;
      if (heard[i] || !mpi_.probe(static_cast<int>(i + 1), kTagControl, &bytes)) continue;
      any = true;
      MessageHeader h;
      std::string payload;
      Registry theirs;
      std::string host;
      uint32_t pid = 0;
      const bool ok = receive_message(mpi_, static_cast<int>(i + 1), bytes, &h, &payload) &&
                      h.kind == MessageKind::Hello && payload.size() >= sizeof pid;
      if (ok) {
        std::memcpy(&pid, payload.data(), sizeof pid);
        const char* p = payload.data() + sizeof pid;
        const char* end = payload.data() + payload.size();
        const char* nul = static_cast<const char*>(std::memchr(p, 0, static_cast<size_t>(end - p)));
        if (nul) {
          host.assign(p, nul);
          (void)Registry::decode(nul + 1, static_cast<size_t>(end - nul - 1), &theirs);
        }
      }
      heard[i] = true;
      --missing;
      const std::string who = "rank " + std::to_string(i + 1);
      if (!ok) {
        refused.push_back(who + " sent a malformed hello (is it the same program?)");
        continue;
      }
      if (const std::string diff = mine.difference(theirs); !diff.empty())
        refused.push_back(who + " registered differently from rank 0: " + diff);
      Rank& r = ranks_[i];
      r.pid = static_cast<pid_t>(pid);
      // A rank on this host is watched through its process as well: its death is seen at once.
      if (host == mpi_.host()) r.pidfd = static_cast<int>(syscall(SYS_pidfd_open, r.pid, 0));
    }
    if (missing == 0) break;
    if (sys::now_ns() >= deadline_ns) {
      std::vector<std::string> silent;
      for (size_t i = 0; i < heard.size(); ++i)
        if (!heard[i]) silent.push_back("rank " + std::to_string(i + 1));
      throw TimeoutError("init(): no hello from " + util::join(silent) +
                         " within the deadline: every rank must call init() (WorkerOptions::timeouts.init, "
                         "STRATA_INIT_TIMEOUT_MS)");
    }
    if (!any) sys::sleep_ns(100'000);
  }
  if (!refused.empty()) {
    const std::string why = "init(): " + util::join(refused, "; ") +
                            "; every rank must register the same kernels, host callables and orchestration "
                            "functions (the same program)";
    for (size_t i = 0; i < ranks_.size(); ++i) {
      MessageHeader h;
      h.kind = MessageKind::Refused;
      outgoing_.push_back(Outgoing{message(h, why.data(), why.size()), 0});
      outgoing_.back().req = mpi_.isend(outgoing_.back().bytes.data(), outgoing_.back().bytes.size(),
                                        static_cast<int>(i + 1), kTagControl);
    }
    shutdown(heartbeat_ns_);
    throw UsageError(why);
  }
  std::string welcome(sizeof(WelcomeInfo), '\0');
  WelcomeInfo info{reinterpret_cast<uint64_t>(base_),
                   buffer_bytes_,
                   heap_bytes_,
                   heartbeat_ns_,
                   trace_bytes_,
                   static_cast<uint32_t>(mine.orchs.size()),
                   static_cast<uint32_t>(getpid())};
  std::memcpy(welcome.data(), &info, sizeof info);
  for (const std::string& n : mine.orchs) welcome.append(n.c_str(), n.size() + 1);
  welcome.append(mpi_.host().c_str(), mpi_.host().size() + 1);
  const int64_t now = sys::now_ns();
  for (size_t i = 0; i < ranks_.size(); ++i) {
    MessageHeader h;
    h.kind = MessageKind::Welcome;
    outgoing_.push_back(Outgoing{message(h, welcome.data(), welcome.size()), 0});
    outgoing_.back().req =
        mpi_.isend(outgoing_.back().bytes.data(), outgoing_.back().bytes.size(), static_cast<int>(i + 1), kTagControl);
    ranks_[i].last_heard_ns = now;
    ranks_[i].last_sent_ns = now;
  }
}

void RootLink::start(supervisor::Child& c) {
  Rank& r = ranks_[static_cast<size_t>(c.rank - 1)];
  r.child = &c;
  r.end.emplace(c.channel.channel(), sup_.parent_wake()->event_count());
  r.queued.clear();
  r.sent.clear();
  r.live = true;
  r.bye = false;
  r.last_heard_ns = sys::now_ns();
  // Its next control message lands here: one receive always posted, tested by every pump.
  r.inbox.resize(kMaxMessage);
  r.inbox_req = mpi_.irecv(r.inbox.data(), r.inbox.size(), c.rank, kTagControl);
}

void RootLink::send(Rank& r, const MessageHeader& h, const void* payload, size_t len) {
  outgoing_.push_back(Outgoing{message(h, payload, len), 0});
  Outgoing& o = outgoing_.back();
  o.req = mpi_.isend(o.bytes.data(), o.bytes.size(), r.child->rank, kTagControl);
  r.last_sent_ns = sys::now_ns();
}

bool RootLink::pump() {
  bool moved = receive();
  for (Rank& r : ranks_) {
    if (!r.live) continue;
    std::erase_if(r.data, [&](Request& q) { return mpi_.test(&q); });
    if (r.trace_req) (void)mpi_.test(&r.trace_req);
    if (r.receiving) {
      std::erase_if(r.incoming, [&](Request& q) { return mpi_.test(&q); });
      if (r.incoming.empty()) {
        finish_answer(r);
        moved = true;
      }
    }
    if (r.live) moved |= forward(r);
  }
  while (!outgoing_.empty() && mpi_.test(&outgoing_.front().req)) outgoing_.pop_front();
  const int64_t now = sys::now_ns();
  // Deaths, silences and heartbeats: every millisecond (it polls the ranks' pidfds, a system call each).
  if (now - last_check_ns_ >= 1'000'000) check_alive(now);
  idle_pumps_ = moved ? 0 : idle_pumps_ + 1;
  return moved;
}

bool RootLink::receive() {
  bool moved = false;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    Rank& r = ranks_[i];
    // One rank's answers in order: the next waits until this one's data is in.
    size_t bytes = 0;
    while (r.live && !r.receiving && mpi_.test(&r.inbox_req, &bytes)) {
      MessageHeader h;
      std::string payload;
      if (!read_message(r.inbox.data(), bytes, &h, &payload)) {
        lose(r, "broke the pod's protocol (a malformed message of " + std::to_string(bytes) + " bytes)");
        return true;
      }
      r.inbox_req = mpi_.irecv(r.inbox.data(), r.inbox.size(), static_cast<int>(i + 1), kTagControl);
      r.last_heard_ns = sys::now_ns();
      moved |= handle(static_cast<int>(i + 1), h, std::move(payload));
    }
  }
  return moved;
}

bool RootLink::handle(int source, const MessageHeader& h, std::string payload) {
  Rank& r = *rank_of(source);
  switch (h.kind) {
    case MessageKind::Heartbeat:
      return false;
    case MessageKind::Ready:
      r.end->set_state(ipc::ChildState::Ready);
      return true;
    case MessageKind::InitFailed:
      r.end->init_failed(payload);
      r.live = false;
      return true;
    case MessageKind::Bye:
      r.bye = true;
      if (h.detail >= sizeof(trace::SpillHeader) && h.detail <= sizeof(trace::SpillHeader) + trace_bytes_) {
        // Its trace follows on the data tag.
        r.trace.assign(h.detail, '\0');
        r.trace_req = mpi_.irecv(r.trace.data(), r.trace.size(), source, kTagData);
      }
      return true;
    case MessageKind::ClockPing: {
      MessageHeader pong;
      pong.kind = MessageKind::ClockPong;
      pong.start_ns = sys::now_ns();
      send(r, pong);
      return true;
    }
    case MessageKind::Done: {
      if (r.sent.empty() || r.sent.front().id != h.id) {
        lose(r, "broke the pod's protocol (an answer for #" + std::to_string(h.id) + " it was not given)");
        return true;
      }
      r.answer = h;
      r.answer_payload = std::move(payload);
      r.receiving = true;
      const Sent& s = r.sent.front();
      if (s.task && h.status == static_cast<uint8_t>(ipc::Status::Ok)) {
        std::string err;
        if (ipc::frame_decode(s.frame.data(), s.frame.size(), decoded_.get(), &err))
          post_tensors(mpi_, *decoded_, false, false, source, 0, &r.incoming);
      }
      if (r.incoming.empty()) finish_answer(r);
      return true;
    }
    default:
      lose(r, "broke the pod's protocol (an unexpected message of kind " +
                  std::to_string(static_cast<uint32_t>(h.kind)) + ")");
      return true;
  }
}

void RootLink::finish_answer(Rank& r) {
  r.receiving = false;
  const Sent s = std::move(r.sent.front());
  r.sent.pop_front();
  const MessageHeader& h = r.answer;
  const auto status = static_cast<ipc::Status>(h.status);
  if (s.task) ipc::board_finish_part(board_, s.id, status != ipc::Status::Ok);
  r.end->complete(h.id, h.part, status, static_cast<ipc::ErrorCode>(h.code), h.detail, h.start_ns, h.end_ns,
                  r.answer_payload);
  // The task timeout watchdog reads the running record for the oldest frame the rank owes.
  if (!r.sent.empty() && r.sent.front().task) {
    int64_t timeout = 0;
    std::memcpy(&timeout, r.sent.front().frame.data() + offsetof(ipc::FrameHeader, timeout_ns), sizeof timeout);
    const int64_t now = sys::now_ns();
    r.end->set_running(r.sent.front().id, now, timeout > 0 ? now + timeout : 0);
  }
}

bool RootLink::forward(Rank& r) {
  bool moved = false;
  while (const unsigned char* f = r.end->try_next_request()) {
    r.queued.emplace_back(f, f + ipc::kRequestSlotBytes);
    r.end->pop_request();
    moved = true;
  }
  while (r.live && !r.queued.empty()) {
    std::vector<unsigned char>& frame = r.queued.front();
    ipc::FrameHeader fh;
    std::memcpy(&fh, frame.data(), sizeof fh);
    const auto kind = static_cast<ipc::FrameKind>(fh.kind);
    if (kind == ipc::FrameKind::Task) {
      // Held until its producers are done here: their outputs must be in the root's memory first.
      bool poisoned = false;
      for (uint16_t d = 0; d < std::min<uint16_t>(fh.ndeps, ipc::kMaxFrameDeps); ++d) {
        const auto outcome = ipc::board_poll(board_, fh.deps[d], fh.task_id);
        if (!outcome) return moved;
        if (*outcome == ipc::DepOutcome::Failed) {
          ipc::board_finish_part(board_, fh.task_id, true);
          const int64_t now = sys::now_ns();
          r.end->complete(fh.task_id, fh.part, ipc::Status::Poisoned, ipc::ErrorCode::None, fh.deps[d], now, now, {});
          poisoned = true;
          break;
        }
      }
      if (!poisoned) send_frame(r, std::move(frame));
    } else if (kind == ipc::FrameKind::Shutdown) {
      MessageHeader h;
      h.kind = MessageKind::Shutdown;
      h.detail = Mpi::broken() ? 1 : 0;  // the pod lost a rank: leave without MPI_Finalize
      send(r, h);
    } else {
      MessageHeader h;
      h.kind = MessageKind::Control;
      h.id = fh.task_id;
      send(r, h, frame.data(), sizeof(ipc::FrameHeader) + fh.payload_bytes);
      r.sent.push_back(Sent{fh.task_id, false, {}});
    }
    r.queued.pop_front();
    moved = true;
  }
  return moved;
}

bool RootLink::send_frame(Rank& r, std::vector<unsigned char> frame) {
  std::string err;
  ipc::FrameHeader fh;
  std::memcpy(&fh, frame.data(), sizeof fh);
  const int64_t now = sys::now_ns();
  if (!ipc::frame_decode(frame.data(), frame.size(), decoded_.get(), &err) ||
      !tensors_within(*decoded_, reinterpret_cast<uintptr_t>(base_), bytes_, &err)) {
    ipc::board_finish_part(board_, fh.task_id, true);
    r.end->complete(fh.task_id, fh.part, ipc::Status::Rejected, ipc::ErrorCode::BadRequest, 0, now, now, err);
    return false;
  }
  ipc::board_start(board_, fh.task_id);
  MessageHeader h;
  h.kind = MessageKind::Task;
  h.id = fh.task_id;
  send(r, h, frame.data(), sizeof(ipc::FrameHeader) + fh.payload_bytes);
  post_tensors(mpi_, *decoded_, true, true, r.child->rank, 0, &r.data);
  if (r.sent.empty()) r.end->set_running(fh.task_id, now, fh.timeout_ns > 0 ? now + fh.timeout_ns : 0);
  r.sent.push_back(Sent{fh.task_id, true, std::move(frame)});
  return true;
}

void RootLink::check_alive(int64_t now) {
  // The root did not look for a while (it was stopped, or busy between runs): the ranks' messages are
  // waiting for it, not missing; give them a full deadline again.
  const bool was_away = now - last_check_ns_ > heartbeat_ns_ / 2;
  last_check_ns_ = now;
  for (Rank& r : ranks_) {
    if (!r.live) continue;
    if (was_away) r.last_heard_ns = now;
    if (r.pidfd >= 0) {
      pollfd p{r.pidfd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        lose(r, "its process (pid " + std::to_string(r.pid) + " on this host) exited");
        continue;
      }
    }
    // A starting rank is bounded by init()'s deadline (bringing its chips up may take longer).
    if (r.child->state != supervisor::ChildState::Starting && now - r.last_heard_ns > heartbeat_ns_) {
      lose(r, "stopped answering: " + silence_text(now - r.last_heard_ns));
      continue;
    }
    if (now - r.last_sent_ns > heartbeat_ns_ / 4) {
      MessageHeader h;
      h.kind = MessageKind::Heartbeat;
      send(r, h);
    }
  }
}

void RootLink::lose(Rank& r, const std::string& how) {
  if (!r.live) return;
  Mpi::mark_broken();
  if (r.child->state == supervisor::ChildState::Starting) {
    // wait_ready reports it.
    r.end->init_failed("rank " + std::to_string(r.child->rank) + " " + how);
    dismiss(*r.child, how);
    return;
  }
  sup_.died(*r.child, how);  // calls dismiss()
}

void RootLink::dismiss(supervisor::Child& c, const std::string& why) noexcept {
  Rank& r = ranks_[static_cast<size_t>(c.rank - 1)];
  if (!r.live) return;
  r.live = false;
  try {
    MessageHeader h;
    h.kind = MessageKind::Shutdown;
    h.detail = 1;
    send(r, h, why.data(), why.size());
  } catch (...) {
  }
  release(r);
  r.receiving = false;
  r.queued.clear();
  r.sent.clear();
}

const trace::SpillHeader* RootLink::trace_of(int worker_index) const noexcept {
  static const trace::SpillHeader missing{};  // no magic: the recorder says the trace is missing
  if (worker_index < 0 || static_cast<size_t>(worker_index) >= ranks_.size()) return &missing;
  const Rank& r = ranks_[static_cast<size_t>(worker_index)];
  if (r.trace_req || r.trace.size() < sizeof(trace::SpillHeader)) return &missing;
  const auto* h = reinterpret_cast<const trace::SpillHeader*>(r.trace.data());
  // What the rank says it wrote must be what it sent.
  if (h->magic != trace::kSpillMagic || h->bytes != r.trace.size() - sizeof(trace::SpillHeader)) return &missing;
  return h;
}

int64_t RootLink::nap_ns() const noexcept {
  for (const Rank& r : ranks_)
    if (r.live && (!r.sent.empty() || !r.queued.empty() || r.receiving)) return idle_pumps_ < 1000 ? 20'000 : 200'000;
  return 1'000'000;
}

void RootLink::shutdown(int64_t timeout_ns) noexcept {
  const int64_t deadline = sys::now_ns() + std::max<int64_t>(timeout_ns, 0);
  try {
    // The supervisor posted a Shutdown frame to every ready rank: forward them, tell the ones still
    // starting directly (an init() that failed elsewhere), then wait for each Bye.
    pump();
    for (Rank& r : ranks_) {
      if (!r.live || !r.child || r.child->state == supervisor::ChildState::Ready) continue;
      MessageHeader h;
      h.kind = MessageKind::Shutdown;
      h.detail = Mpi::broken() ? 1 : 0;
      send(r, h);
    }
    for (;;) {
      pump();
      bool waiting = false;
      for (const Rank& r : ranks_) waiting |= r.live && r.child && (!r.bye || r.trace_req);
      if (!waiting && outgoing_.empty()) break;
      if (sys::now_ns() >= deadline) {
        for (const Rank& r : ranks_)
          if (timeout_ns > 0 && r.live && r.child && !r.bye)
            STRATA_LOG_WARN("pod", "rank %d did not say goodbye within the close deadline", r.child->rank);
        break;
      }
      sys::sleep_ns(100'000);
    }
  } catch (const std::exception& e) {
    STRATA_LOG_ERROR("pod", "closing the pod: %s", e.what());
  }
  for (Rank& r : ranks_) {
    r.live = false;
    release(r);
  }
  release_outgoing();
}

}  // namespace strata::pod
