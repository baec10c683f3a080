// pod/rank_server.cpp — a rank of a pod over MPI serving its root (see rank_server.hpp).
#include "pod/rank_server.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "child/runtime.hpp"
#include "ipc/task_failure.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::pod {
namespace {
// How many heartbeat deadlines an idle rank waits for word from the root.
constexpr int64_t kIdleDeadlines = 6;

}  // namespace

RankServer::RankServer(RankSetup setup)
    : s_(std::move(setup)), mpi_(Mpi::get()), frame_(std::make_unique<ipc::DecodedFrame>()) {}

RankServer::~RankServer() {
  mpi_.withdraw_recv(&inbox_req_, &inbox_);
  for (Outgoing& o : outgoing_) mpi_.abandon(&o.req, &o.bytes);
  for (Request& q : data_out_) mpi_.abandon(&q);
  for (Incoming& in : queue_)
    for (Request& q : in.data) mpi_.withdraw_recv(&q);
  if (root_pidfd_ >= 0) ::close(root_pidfd_);
}

void RankServer::send(const MessageHeader& h, const void* payload, size_t len) {
  outgoing_.push_back(Outgoing{message(h, payload, len), 0});
  Outgoing& o = outgoing_.back();
  o.req = mpi_.isend(o.bytes.data(), o.bytes.size(), 0, kTagControl);
  last_sent_ns_ = sys::now_ns();
}

void RankServer::welcome() {
  const std::string who = "rank " + std::to_string(mpi_.rank());
  std::string hello(sizeof(uint32_t), '\0');
  const auto pid = static_cast<uint32_t>(getpid());
  std::memcpy(hello.data(), &pid, sizeof pid);
  hello.append(mpi_.host().c_str(), mpi_.host().size() + 1);
  hello += s_.registry.encode();
  MessageHeader h;
  h.kind = MessageKind::Hello;
  send(h, hello.data(), hello.size());
  size_t bytes = 0;
  while (!mpi_.probe(0, kTagControl, &bytes)) {
    if (sys::now_ns() >= s_.init_deadline_ns)
      throw TimeoutError("init(): " + who +
                         ": no welcome from the root (rank 0) within the deadline: rank 0 must "
                         "call init() too (WorkerOptions::timeouts.init, STRATA_INIT_TIMEOUT_MS)");
    sys::sleep_ns(100'000);
  }
  std::string buf(std::max(bytes, sizeof(MessageHeader)), '\0');
  mpi_.recv_probed(buf.data(), bytes, 0, kTagControl);
  std::memcpy(&h, buf.data(), sizeof h);
  const std::string payload = buf.substr(sizeof h);
  if (h.kind == MessageKind::Refused) throw UsageError(payload);
  WelcomeInfo info{};
  if (h.kind != MessageKind::Welcome || payload.size() < sizeof info)
    throw Error("init(): " + who + ": the root's welcome is malformed (is every rank the same program?)");
  std::memcpy(&info, payload.data(), sizeof info);
  heartbeat_ns_ = info.heartbeat_ns;
  const char* p = payload.data() + sizeof info;
  const char* end = payload.data() + payload.size();
  std::vector<std::string> names;
  for (uint32_t i = 0; i <= info.norchs && p < end; ++i) {
    const char* nul = static_cast<const char*>(std::memchr(p, 0, static_cast<size_t>(end - p)));
    if (!nul) break;
    names.emplace_back(p, nul);
    p = nul + 1;
  }
  const std::string root_host = names.size() > info.norchs ? names.back() : std::string();
  names.resize(std::min<size_t>(names.size(), info.norchs));
  for (const std::string& n : names) {
    int local = -1;
    for (size_t k = 0; k < s_.pod->orchs.size(); ++k)
      if (s_.pod->orchs[k].name == n) local = static_cast<int>(k);
    orch_index_.push_back(local);
  }
  if (info.buffer_bytes != s_.buffer_bytes || info.heap_bytes != s_.heap_bytes)
    refusal_ = "init(): " + who + "'s pod memory (" + std::to_string(s_.buffer_bytes) + " buffer + " +
               std::to_string(s_.heap_bytes) + " heap bytes) differs from rank 0's (" +
               std::to_string(info.buffer_bytes) + " + " + std::to_string(info.heap_bytes) +
               "): give every rank the same WorkerOptions::memory and STRATA_*_BYTES";
  shift_ = reinterpret_cast<intptr_t>(s_.memory) - static_cast<intptr_t>(info.root_base);
  trace_bytes_ = info.trace_bytes;
  if (root_host == mpi_.host()) root_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, info.root_pid, 0));
  last_heard_ns_ = sys::now_ns();
  last_look_ns_ = last_heard_ns_;
  // From now on the root's next control message lands here: one receive always posted.
  inbox_.resize(kMaxMessage);
  inbox_req_ = mpi_.irecv(inbox_.data(), inbox_.size(), 0, kTagControl);
}

int64_t RankServer::clock_offset() {
  int64_t best_rtt = INT64_MAX, offset = 0;
  for (int round = 0; round < 8; ++round) {
    MessageHeader ping;
    ping.kind = MessageKind::ClockPing;
    const int64_t t0 = sys::now_ns();
    send(ping);
    size_t bytes = 0;
    for (;;) {
      if (mpi_.test(&inbox_req_, &bytes)) {
        MessageHeader h;
        std::string payload;
        const bool ok = read_message(inbox_.data(), bytes, &h, &payload);
        inbox_req_ = mpi_.irecv(inbox_.data(), inbox_.size(), 0, kTagControl);
        if (ok && h.kind == MessageKind::ClockPong) {
          const int64_t t1 = sys::now_ns();
          if (t1 - t0 < best_rtt) {
            best_rtt = t1 - t0;
            offset = (t0 + t1) / 2 - h.start_ns;
          }
          break;
        }
        continue;  // a heartbeat
      }
      if (sys::now_ns() >= s_.init_deadline_ns)
        throw TimeoutError("init(): rank " + std::to_string(mpi_.rank()) +
                           ": rank 0 did not answer the clock exchange within the deadline");
      sys::yield();
    }
  }
  while (!outgoing_.empty() && mpi_.test(&outgoing_.front().req)) outgoing_.pop_front();
  return offset;
}

void RankServer::serve() {
  const std::string who = "rank " + std::to_string(mpi_.rank());
  welcome();
  // From here on rank 0 waits for this rank's ready: whatever stops it is reported as a failed start.
  try {
    if (!refusal_.empty()) throw UsageError(refusal_);
    if (trace_bytes_ && s_.trace_into) {
      const int64_t offset = clock_offset();
      trace_ = ipc::SharedMapping(sizeof(trace::SpillHeader) + trace_bytes_);
      s_.trace_into(static_cast<trace::SpillHeader*>(trace_.data()), trace_.size(), offset);
    }
    s_.node->init();
  } catch (const std::exception& e) {
    const std::string why = e.what();
    MessageHeader h;
    h.kind = MessageKind::InitFailed;
    send(h, why.data(), why.size());
    drain_sends(sys::now_ns() + heartbeat_ns_);
    throw;
  }
  MessageHeader ready;
  ready.kind = MessageKind::Ready;
  send(ready);
  int64_t idle_since = sys::now_ns();
  const int64_t spin_ns = std::max<int64_t>(sys::spin_budget_ns(), 200'000);
  while (stop_.empty() && !closing_) {
    background();
    if (!queue_.empty()) {
      Incoming& in = queue_.front();
      if (in.header.kind == MessageKind::Task) {
        std::erase_if(in.data, [&](Request& q) { return mpi_.test(&q); });
        if (!in.data.empty()) continue;  // its inputs are still arriving
        run_task(in);
      } else if (in.header.kind == MessageKind::Control) {
        ipc::FrameHeader fh;
        std::memcpy(&fh, in.payload.data(), std::min(in.payload.size(), sizeof fh));
        const int64_t start = sys::now_ns();
        if (fh.kind == static_cast<uint16_t>(ipc::FrameKind::Respawn)) {
          try {
            s_.node->respawn();
            answer(in.header.id, 0, ipc::Status::Ok, ipc::ErrorCode::None, start, {}, nullptr);
          } catch (const std::exception& e) {
            answer(in.header.id, 0, ipc::Status::Failed, ipc::ErrorCode::Exception, start, e.what(), nullptr);
          }
        } else {
          answer(in.header.id, 0, ipc::Status::Failed, ipc::ErrorCode::Unsupported, start,
                 "a pod's rank does not serve control frame kind " + std::to_string(fh.kind), nullptr);
        }
      }
      queue_.pop_front();
      idle_since = sys::now_ns();
      continue;
    }
    // Idle: spin a while after the last work (the next task usually follows), then nap.
    const int64_t idle = sys::now_ns() - idle_since;
    if (idle > spin_ns) sys::sleep_ns(std::min<int64_t>(idle / 16, 1'000'000));
  }
  try {
    s_.node->close();
  } catch (const std::exception& e) {
    STRATA_LOG_WARN("pod", "%s: closing its Worker: %s", who.c_str(), e.what());
  }
  if (closing_) {
    MessageHeader bye;
    bye.kind = MessageKind::Bye;
    // The Worker wrote its trace when it closed: it follows the Bye, whole.
    const auto* spill = static_cast<const trace::SpillHeader*>(trace_.data());
    const bool traced = spill && spill->magic == trace::kSpillMagic;
    if (traced) bye.detail = sizeof(trace::SpillHeader) + spill->bytes;
    send(bye);
    if (traced) data_out_.push_back(mpi_.isend(trace_.data(), bye.detail, 0, kTagData));
    drain_sends(sys::now_ns() + heartbeat_ns_);
    return;
  }
  drain_sends(sys::now_ns() + 100'000'000);
  Mpi::mark_broken();
  throw Error(who + " stopped serving the pod: " + stop_);
}

void RankServer::run_task(Incoming& in) {
  const int64_t start = sys::now_ns();
  std::string err;
  if (!ipc::frame_decode(reinterpret_cast<const unsigned char*>(in.payload.data()), in.payload.size(), frame_.get(),
                         &err)) {
    answer(in.header.id, 0, ipc::Status::Rejected, ipc::ErrorCode::BadRequest, start, err, nullptr);
    return;
  }
  ipc::DecodedFrame& f = *frame_;
  const ipc::FrameHeader& fh = f.header;
  if (fh.callable >= orch_index_.size() || orch_index_[fh.callable] < 0) {
    answer(fh.task_id, fh.part, ipc::Status::Failed, ipc::ErrorCode::BadRequest, start,
           ipc::encode_task_failure(
               ipc::TaskFailure{"", "unknown orchestration function id " + std::to_string(fh.callable), {}}),
           nullptr);
    return;
  }
  // The tensors name the root's memory: here they are this rank's copy of it.
  for (uint16_t i = 0; i < fh.ntensors; ++i)
    if (f.tensors[i].data) f.tensors[i].data = static_cast<char*>(f.tensors[i].data) + shift_;
  const TaskContext ctx({f.tensors, fh.ntensors}, {f.tags, fh.ntensors}, {f.scalars, fh.nscalars}, fh.task_id, 0,
                        fh.block_dim, mpi_.rank() - 1, fh.part, fh.parts);
  ipc::TaskFailure failure;
  if (s_.on_task) s_.on_task(fh.task_id);
  running_ = true;
  const bool ok = child::run_orchestration(*s_.node, s_.pod->orchs[static_cast<size_t>(orch_index_[fh.callable])].fn,
                                           ctx, &failure);
  running_ = false;
  if (!stop_.empty()) return;
  if (ok) {
    // Back to the root's addresses for post_tensors' shift.
    for (uint16_t i = 0; i < fh.ntensors; ++i)
      if (f.tensors[i].data) f.tensors[i].data = static_cast<char*>(f.tensors[i].data) - shift_;
    answer(fh.task_id, fh.part, ipc::Status::Ok, ipc::ErrorCode::None, start, {}, &f);
  } else {
    answer(fh.task_id, fh.part, ipc::Status::Failed, ipc::ErrorCode::Exception, start,
           ipc::encode_task_failure(failure), nullptr);
  }
}

void RankServer::answer(uint64_t id, uint32_t part, ipc::Status status, ipc::ErrorCode code, int64_t start_ns,
                        const std::string& payload, const ipc::DecodedFrame* outputs) {
  MessageHeader h;
  h.kind = MessageKind::Done;
  h.id = id;
  h.part = part;
  h.status = static_cast<uint8_t>(status);
  h.code = static_cast<uint16_t>(code);
  h.start_ns = start_ns;
  h.end_ns = sys::now_ns();
  const size_t len = std::min<size_t>(payload.size(), ipc::kPayloadBytes);
  send(h, payload.data(), len);
  if (outputs) post_tensors(mpi_, *outputs, false, true, 0, shift_, &data_out_);
}

bool RankServer::receive() {
  bool any = false;
  size_t bytes = 0;
  while (stop_.empty() && mpi_.test(&inbox_req_, &bytes)) {
    any = true;
    last_heard_ns_ = sys::now_ns();
    MessageHeader h;
    std::string payload;
    if (!read_message(inbox_.data(), bytes, &h, &payload)) {
      stop_ = "the root sent a malformed message";
      return true;
    }
    inbox_req_ = mpi_.irecv(inbox_.data(), inbox_.size(), 0, kTagControl);
    switch (h.kind) {
      case MessageKind::Heartbeat:
        break;
      case MessageKind::Shutdown:
        if (h.detail) Mpi::mark_broken();
        if (h.payload_bytes == 0)
          closing_ = true;
        else
          stop_ = "the root dismissed it: " + payload;
        break;
      case MessageKind::Task: {
        Incoming in{h, std::move(payload), {}};
        std::string err;
        // Its inputs follow on the data tag, in order: start receiving them into this rank's copy now.
        if (!ipc::frame_decode(reinterpret_cast<const unsigned char*>(in.payload.data()), in.payload.size(),
                               frame_.get(), &err) ||
            !tensors_within(*frame_, reinterpret_cast<uintptr_t>(s_.memory) - shift_, s_.buffer_bytes + s_.heap_bytes,
                            &err)) {
          stop_ = "the root sent a task this rank cannot take: " + err;
          return true;
        }
        post_tensors(mpi_, *frame_, true, false, 0, shift_, &in.data);
        queue_.push_back(std::move(in));
        break;
      }
      case MessageKind::Control:
        queue_.push_back(Incoming{h, std::move(payload), {}});
        break;
      default:
        stop_ = "the root sent an unexpected message (kind " + std::to_string(static_cast<uint32_t>(h.kind)) + ")";
        return true;
    }
  }
  return any;
}

void RankServer::heartbeat(int64_t now) {
  // A rank that did not look for a while (it was stopped, or its task kept it from waiting) cannot tell
  // the root's silence from its own: it listens a full deadline again.
  if (now - last_look_ns_ > heartbeat_ns_ / 2) last_heard_ns_ = now;
  last_look_ns_ = now;
  if (now - last_sent_ns_ > heartbeat_ns_ / 4) {
    MessageHeader h;
    h.kind = MessageKind::Heartbeat;
    send(h);
  }
  // The root's process, when it runs on this host: looked at every millisecond (a system call).
  if (root_pidfd_ >= 0 && now - last_pid_look_ns_ >= 1'000'000) {
    last_pid_look_ns_ = now;
    pollfd p{root_pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) stop_ = "the root (rank 0) exited";
  }
  // The root sends heartbeats only while it waits on the pod; between its runs it may be busy for a
  // while, so an idle rank gives it kIdleDeadlines deadlines before it concludes the root is gone.
  const int64_t deadline = running_ || !queue_.empty() ? heartbeat_ns_ : heartbeat_ns_ * kIdleDeadlines;
  if (stop_.empty() && now - last_heard_ns_ > deadline)
    stop_ = "the root (rank 0) stopped answering: " + silence_text(now - last_heard_ns_);
}

void RankServer::background() noexcept {
  try {
    if (stop_.empty()) receive();
    while (!outgoing_.empty() && mpi_.test(&outgoing_.front().req)) outgoing_.pop_front();
    std::erase_if(data_out_, [&](Request& q) { return mpi_.test(&q); });
    heartbeat(sys::now_ns());
  } catch (const std::exception& e) {
    if (stop_.empty()) stop_ = e.what();
  }
  // A task running when the rank must stop is cancelled: its Worker kills what it runs.
  if ((!stop_.empty() || closing_) && running_) {
    try {
      s_.node->cancel_run(stop_.empty() ? "the root closed the pod" : stop_);
    } catch (...) {
    }
  }
}

void RankServer::keep_up() {
  background();
  if (!stop_.empty()) throw Error("rank " + std::to_string(mpi_.rank()) + " must stop: " + stop_);
}

void RankServer::drain_sends(int64_t deadline_ns) {
  while ((!outgoing_.empty() || !data_out_.empty()) && sys::now_ns() < deadline_ns) {
    try {
      while (!outgoing_.empty() && mpi_.test(&outgoing_.front().req)) outgoing_.pop_front();
      std::erase_if(data_out_, [&](Request& q) { return mpi_.test(&q); });
    } catch (...) {
      break;
    }
    sys::sleep_ns(50'000);
  }
}

}  // namespace strata::pod
