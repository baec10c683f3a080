// child/runtime.hpp — what a chip, sub or worker process runs after fork.
//
// A child owns nothing of the parent's scheduling state. It reads frames from its channel in order and
// serves each: a task waits on the status board for the producers its frame names, runs (a kernel
// through the chip backend, a host callable, or an orchestration function on the child's own inner
// Worker), marks the board and posts a completion stamped with its start and end; a control frame
// (kernels loaded after init(), the domain requests: communicator bring-up, window prepare / commit /
// free, copies) is served through the backend. Nothing is thrown out of the runtime: every failure
// becomes a completion with a status, an error code and the whole message.
//
// Runs on the child's main thread; the backend may run blocks on threads of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "child/callables.hpp"
#include "comm/backend.hpp"
#include "ipc/board.hpp"
#include "ipc/channel.hpp"
#include "ipc/task_failure.hpp"
#include "strata/worker.hpp"

namespace strata::child {

/// Everything a child needs, as the parent set it up before fork.
struct ChildSetup {
  ChildKind kind = ChildKind::Chip;
  int index = 0;
  int device_id = -1;
  int chip_count = 0;
  std::string name;  // "chip 0", for logs
  ipc::Channel* channel = nullptr;
  ipc::ParentWake* parent = nullptr;
  ipc::Board* board = nullptr;
  Callables* callables = nullptr;  // this process's copy (fork gave it)
  std::string backend;
  std::string backend_settings;  // comm::configure_backend's, made when the Worker was built
  uint32_t chip_threads = 1;
  comm::BackendShared* backend_shared = nullptr;
  Worker* inner = nullptr;                     // worker children: the Worker it runs
  std::function<void(uint64_t)> on_orch_task;  // worker children: told the task before its function runs
  int64_t spin_ns = 0;
};

/// The body of a child process: starts (backend, or inner Worker), reports ready, serves frames until
/// a Shutdown frame, then stops. Returns the exit status.
int child_main(const ChildSetup& setup) noexcept;

/// Runs orchestration function `fn` on `inner` (a child Worker, or a pod's rank) for a task of `ctx`.
/// Returns false with `*failure` filled (a failed inner task's levels as data) when it failed.
bool run_orchestration(Worker& inner, const OrchCallable& fn, const TaskContext& ctx, ipc::TaskFailure* failure);

}  // namespace strata::child
