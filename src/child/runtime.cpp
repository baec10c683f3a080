// child/runtime.cpp — a child process's life: start, the frame loop, stop (see runtime.hpp).
#include "child/runtime.hpp"

#include <cstring>

#include "child/child_runtime.hpp"
#include "ipc/shm.hpp"
#include "strata/worker.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::child {

int child_main(const ChildSetup& setup) noexcept {
  try {
    ChildRuntime rt(setup);
    return rt.main();
  } catch (const std::exception& e) {
    STRATA_LOG_ERROR("child", "%s: %s", setup.name.c_str(), e.what());
  } catch (...) {
    STRATA_LOG_ERROR("child", "%s: unknown exception", setup.name.c_str());
  }
  return 70;
}

ChildRuntime::ChildRuntime(const ChildSetup& setup)
    : s_(setup), ch_(setup.channel, setup.parent->event_count()), frame_(std::make_unique<ipc::DecodedFrame>()) {}

int ChildRuntime::main() noexcept {
  ch_.hold_liveness();
  // This process's view of the memory every task touches, mapped now rather than fault by fault.
  ipc::prefault(s_.channel, ipc::kChannelHotBytes);
  if (s_.board) ipc::prefault(s_.board, ipc::Board::bytes_for(s_.board->header.slots));
  std::string err;
  if (!start(&err)) {
    ch_.init_failed(err);
    return 0;
  }
  ch_.set_state(ipc::ChildState::Ready);
  loop();
  ch_.set_state(ipc::ChildState::Exiting);
  stop();
  return 0;
}

bool ChildRuntime::start(std::string* error) {
  switch (s_.kind) {
    case ChildKind::Chip: {
      backend_ = comm::make_backend(s_.backend);
      if (!backend_) {
        *error = "backend '" + s_.backend + "' is not available";
        return false;
      }
      comm::ChipInfo info;
      info.chip_index = s_.index;
      info.chip_count = s_.chip_count;
      info.device_id = s_.device_id;
      info.threads = s_.chip_threads;
      info.shared = s_.backend_shared;
      info.settings = s_.backend_settings;
      return backend_->start(info, error);
    }
    case ChildKind::Sub:
      return true;
    case ChildKind::Worker:
      try {
        s_.inner->init();
        return true;
      } catch (const std::exception& e) {
        *error = e.what();
        return false;
      }
  }
  return false;
}

void ChildRuntime::stop() noexcept {
  if (s_.inner) {
    try {
      s_.inner->close();
    } catch (...) {
    }
  }
  if (backend_) backend_->stop();
}

void ChildRuntime::reply(uint64_t id, uint32_t part, int64_t start_ns, const Answer& a) noexcept {
  ch_.complete(id, part, a.status, a.code, a.detail, start_ns, sys::now_ns(), a.payload);
}

void ChildRuntime::loop() {
  std::string err;
  for (;;) {
    const unsigned char* bytes = ch_.next_request(s_.spin_ns, 1'000'000'000);
    if (!bytes) continue;
    const int64_t start = sys::now_ns();
    err.clear();
    const bool ok = ipc::frame_decode(bytes, ipc::kRequestSlotBytes, frame_.get(), &err);
    const ipc::FrameHeader& fh = frame_->header;
    ch_.pop_request();
    if (!ok) {
      uint64_t id = 0;
      std::memcpy(&id, bytes + offsetof(ipc::FrameHeader, task_id), sizeof id);
      STRATA_LOG_ERROR("child", "%s rejected a frame: %s", s_.name.c_str(), err.c_str());
      if (id && !(id & ipc::kControlIdBit)) ipc::board_finish_part(s_.board, id, true);
      reply(id, 0, start, Answer{ipc::Status::Rejected, ipc::ErrorCode::BadRequest, 0, err});
      continue;
    }
    switch (static_cast<ipc::FrameKind>(fh.kind)) {
      case ipc::FrameKind::Shutdown:
        return;
      case ipc::FrameKind::Task:
        run_task(*frame_, start);
        break;
      default:
        reply(fh.task_id, 0, start, serve_control(*frame_));
        break;
    }
  }
}

}  // namespace strata::child
