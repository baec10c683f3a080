// child/child_runtime.hpp — the state of one child process and the handlers that serve its frames
// (shared by runtime.cpp, which owns the loop, task_runner.cpp and control.cpp). Internal to child/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "child/runtime.hpp"
#include "ipc/codec.hpp"
#include "ipc/task_failure.hpp"

namespace strata::child {

/// The reply a handler builds: status, code, detail and the payload (error message or reply data).
struct Answer {
  ipc::Status status = ipc::Status::Ok;
  ipc::ErrorCode code = ipc::ErrorCode::None;
  uint64_t detail = 0;
  std::string payload;
  static Answer fail(ipc::ErrorCode code, std::string message) {
    return Answer{ipc::Status::Failed, code, 0, std::move(message)};
  }
};

class ChildRuntime {
 public:
  explicit ChildRuntime(const ChildSetup& setup);
  int main() noexcept;

 private:
  bool start(std::string* error);
  void stop() noexcept;
  void loop();
  void reply(uint64_t id, uint32_t part, int64_t start_ns, const Answer& a) noexcept;

  // task_runner.cpp
  void run_task(const ipc::DecodedFrame& f, int64_t start_ns);
  bool call(const ipc::DecodedFrame& f, ipc::TaskFailure* failure);

  // control.cpp
  Answer serve_control(const ipc::DecodedFrame& f);
  Answer load_kernel(const ipc::DecodedFrame& f);
  Answer domain_prepare(const ipc::DomainPreparePayload& p);
  Answer domain_commit(const ipc::DomainCommitPayload& p);
  Answer domain_free(const ipc::DomainFreePayload& p);
  Answer copy(const ipc::CopyPayload& p);

  struct Window {
    void* local = nullptr;
    size_t bytes = 0;
    std::vector<void*> imports;
  };

  ChildSetup s_;
  ipc::ChannelChild ch_;
  std::unique_ptr<comm::ChipBackend> backend_;
  std::unordered_map<uint64_t, Window> windows_;  // by allocation id
  std::unique_ptr<ipc::DecodedFrame> frame_;
};

}  // namespace strata::child
