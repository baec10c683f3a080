#include "ipc/channel.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ipc/codec.hpp"
#include "util/sys.hpp"

namespace strata::ipc {

// ---- parent end ------------------------------------------------------------------------------------

void ChannelParent::reset(uint32_t child_kind, int32_t child_index, uint32_t generation) noexcept {
  ChannelHeader& h = ch_->header;
  h.magic = kChannelMagic;
  h.version = kLayoutVersion;
  h.request_slots = kRequestSlots;
  h.request_slot_bytes = kRequestSlotBytes;
  h.payload_bytes = kPayloadBytes;
  h.child_kind = child_kind;
  h.child_index = child_index;
  h.generation = generation;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h.liveness, &attr);
  pthread_mutexattr_destroy(&attr);
  h.child_state.store(static_cast<uint32_t>(ChildState::Starting), std::memory_order_relaxed);
  h.init_message_bytes = 0;
  h.req_head.store(0, std::memory_order_relaxed);
  h.parent_wake_at.store(0, std::memory_order_relaxed);
  h.req_event = EventWord{};
  h.req_tail.store(0, std::memory_order_relaxed);
  h.cpl_head.store(0, std::memory_order_relaxed);
  h.running_seq.store(0, std::memory_order_relaxed);
  h.running_task.store(0, std::memory_order_relaxed);
  h.running_start_ns.store(0, std::memory_order_relaxed);
  h.running_deadline_ns.store(0, std::memory_order_relaxed);
  h.cpl_tail.store(0, std::memory_order_release);
  pushed_ = published_ = consumed_ = 0;
}

void ChannelParent::post(const unsigned char* frame, size_t len, uint64_t id, std::span<const uint64_t> deps) noexcept {
  unsigned char* slot = ch_->requests[pushed_ % kRequestSlots];
  std::memcpy(slot, frame, std::min<size_t>(len, kRequestSlotBytes));
  auto* fh = reinterpret_cast<FrameHeader*>(slot);
  fh->task_id = id;
  const size_t n = std::min<size_t>(deps.size(), kMaxFrameDeps);
  fh->ndeps = static_cast<uint16_t>(n);
  if (n) std::memcpy(fh->deps, deps.data(), n * sizeof(uint64_t));
  ++pushed_;
}

void ChannelParent::flush() noexcept {
  if (published_ == pushed_) return;
  published_ = pushed_;
  ch_->header.req_head.store(published_, std::memory_order_release);
  EventCount(&ch_->header.req_event).notify();
}

const Completion* ChannelParent::peek() const noexcept {
  if (ch_->header.cpl_head.load(std::memory_order_acquire) == consumed_) return nullptr;
  return &ch_->completions[consumed_ % kCompletionSlots];
}

std::string_view ChannelParent::payload(const Completion& c) const noexcept {
  const auto slot = static_cast<size_t>(&c - ch_->completions);
  return {ch_->payloads[slot], std::min<size_t>(c.payload_bytes, kPayloadBytes)};
}

void ChannelParent::pop() noexcept { ++consumed_; }

void ChannelParent::publish_consumed() noexcept { ch_->header.cpl_tail.store(consumed_, std::memory_order_release); }

void ChannelParent::wake_at(uint64_t count) noexcept {
  ch_->header.parent_wake_at.store(count, std::memory_order_relaxed);
}

bool ChannelParent::wake_due() const noexcept {
  const uint64_t head = ch_->header.cpl_head.load(std::memory_order_acquire);
  return head != consumed_ && head >= ch_->header.parent_wake_at.load(std::memory_order_relaxed);
}

ChildState ChannelParent::state() const noexcept {
  return static_cast<ChildState>(ch_->header.child_state.load(std::memory_order_acquire));
}

std::string_view ChannelParent::init_message() const noexcept {
  return {ch_->init_message, std::min<size_t>(ch_->header.init_message_bytes, kPayloadBytes)};
}

RunningTask ChannelParent::running() const noexcept {
  const ChannelHeader& h = ch_->header;
  // A child killed half-way through an update leaves the sequence odd: give up after a while, as idle.
  for (int attempt = 0; attempt < 4096; ++attempt) {
    const uint32_t s1 = h.running_seq.load(std::memory_order_acquire);
    RunningTask r;
    r.task = h.running_task.load(std::memory_order_relaxed);
    r.start_ns = h.running_start_ns.load(std::memory_order_relaxed);
    r.deadline_ns = h.running_deadline_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t s2 = h.running_seq.load(std::memory_order_relaxed);
    if (s1 == s2 && (s1 & 1u) == 0) return r;
    sys::cpu_relax();
  }
  return RunningTask{};
}

bool ChannelParent::liveness_lost() const noexcept {
#if defined(__GLIBC__)
  // glibc keeps the futex word of a mutex first; the kernel sets FUTEX_OWNER_DIED (0x40000000) in it
  // when a thread holding a robust mutex exits.
  auto* word = reinterpret_cast<uint32_t*>(&ch_->header.liveness);
  return (std::atomic_ref<uint32_t>(*word).load(std::memory_order_acquire) & 0x40000000u) != 0;
#else
  return false;
#endif
}

// ---- child end -------------------------------------------------------------------------------------

ChannelChild::ChannelChild(Channel* ch, EventCount parent) noexcept
    : ch_(ch),
      parent_(parent),
      requests_(&ch->header.req_event),
      tail_(ch->header.req_tail.load(std::memory_order_relaxed)),
      cpl_(ch->header.cpl_head.load(std::memory_order_relaxed)) {}

void ChannelChild::hold_liveness() noexcept {
  int rc = pthread_mutex_lock(&ch_->header.liveness);
  if (rc == EOWNERDEAD) pthread_mutex_consistent(&ch_->header.liveness);
}

void ChannelChild::set_state(ChildState s) noexcept {
  ch_->header.child_state.store(static_cast<uint32_t>(s), std::memory_order_release);
  parent_.notify();
}

void ChannelChild::init_failed(std::string_view message) noexcept {
  const size_t n = std::min<size_t>(message.size(), kPayloadBytes);
  std::memcpy(ch_->init_message, message.data(), n);
  ch_->header.init_message_bytes = static_cast<uint32_t>(n);
  set_state(ChildState::InitFailed);
}

const unsigned char* ChannelChild::next_request(int64_t spin_ns, int64_t timeout_ns) noexcept {
  const ChannelHeader& h = ch_->header;
  auto ready = [&] { return h.req_head.load(std::memory_order_acquire) != tail_; };
  const int64_t deadline = timeout_ns < 0 ? -1 : sys::now_ns() + timeout_ns;
  if (!wait_on(
          requests_, ready, [] { return false; }, spin_ns, deadline, -1))
    return nullptr;
  return ch_->requests[tail_ % kRequestSlots];
}

const unsigned char* ChannelChild::try_next_request() const noexcept {
  if (ch_->header.req_head.load(std::memory_order_acquire) == tail_) return nullptr;
  return ch_->requests[tail_ % kRequestSlots];
}

void ChannelChild::pop_request() noexcept { ch_->header.req_tail.store(++tail_, std::memory_order_release); }

void ChannelChild::set_running(uint64_t task, int64_t start_ns, int64_t deadline_ns) noexcept {
  ChannelHeader& h = ch_->header;
  const uint32_t s = h.running_seq.load(std::memory_order_relaxed);
  h.running_seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  h.running_task.store(task, std::memory_order_relaxed);
  h.running_start_ns.store(start_ns, std::memory_order_relaxed);
  h.running_deadline_ns.store(deadline_ns, std::memory_order_relaxed);
  h.running_seq.store(s + 2, std::memory_order_release);
  // A parent already asleep computed its timeout without this deadline: wake it to take it in.
  if (deadline_ns > 0) parent_.notify();
}

void ChannelChild::clear_running() noexcept { set_running(0, 0, 0); }

Completion& ChannelChild::next_completion() noexcept { return ch_->completions[cpl_ % kCompletionSlots]; }

std::span<char> ChannelChild::next_payload() noexcept {
  return {ch_->payloads[cpl_ % kCompletionSlots], kPayloadBytes};
}

void ChannelChild::publish_completion(bool force_wake) noexcept {
  ChannelHeader& h = ch_->header;
  h.cpl_head.store(++cpl_, std::memory_order_release);
  if (parent_.fence_and_check_waiters() && (force_wake || cpl_ >= h.parent_wake_at.load(std::memory_order_relaxed)))
    parent_.wake();
}

void ChannelChild::complete(uint64_t id, uint32_t part, Status status, ErrorCode code, uint64_t detail,
                            int64_t start_ns, int64_t end_ns, std::string_view message) noexcept {
  Completion& c = next_completion();
  c.id = id;
  c.part = part;
  c.status = static_cast<uint8_t>(status);
  c.code = static_cast<uint16_t>(code);
  c.detail = detail;
  c.start_ns = start_ns;
  c.end_ns = end_ns;
  const size_t n = std::min<size_t>(message.size(), kPayloadBytes);
  if (n) std::memcpy(next_payload().data(), message.data(), n);
  c.payload_bytes = static_cast<uint32_t>(n);
  publish_completion(false);
}

}  // namespace strata::ipc
