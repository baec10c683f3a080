// child/task_runner.cpp — running one task in a child: wait for its producers on the status board, run
// it by kind (kernel through the backend, host callable, orchestration function on the inner Worker),
// mark the board, post the completion.
#include "child/child_runtime.hpp"
#include "ipc/task_failure.hpp"
#include "strata/worker.hpp"
#include "util/sys.hpp"

namespace strata::child {

void ChildRuntime::run_task(const ipc::DecodedFrame& f, int64_t start_ns) {
  const ipc::FrameHeader& fh = f.header;
  // Wait for the producers the parent named; a failed one poisons this task.
  for (uint16_t d = 0; d < fh.ndeps; ++d) {
    if (ipc::board_wait(s_.board, fh.deps[d], fh.task_id, d + 1 == fh.ndeps, s_.spin_ns) == ipc::DepOutcome::Failed) {
      ipc::board_finish_part(s_.board, fh.task_id, true);
      reply(fh.task_id, fh.part, start_ns, Answer{ipc::Status::Poisoned, ipc::ErrorCode::None, fh.deps[d], {}});
      return;
    }
  }
  ipc::board_start(s_.board, fh.task_id);
  const int64_t run_start = fh.ndeps ? sys::now_ns() : start_ns;
  ch_.set_running(fh.task_id, run_start, fh.timeout_ns > 0 ? run_start + fh.timeout_ns : 0);
  ipc::TaskFailure failure;
  const bool ok = call(f, &failure);
  // Stamped before the board says so: a consumer elsewhere never starts before this end.
  const int64_t end = sys::now_ns();
  // The running record stays until the next task replaces it: the parent reads it only for the task
  // at the head of what this child owes, which this one no longer is once its completion is posted.
  ipc::board_finish_part(s_.board, fh.task_id, !ok);
  if (ok)
    ch_.complete(fh.task_id, fh.part, ipc::Status::Ok, ipc::ErrorCode::None, 0, run_start, end, {});
  else
    ch_.complete(fh.task_id, fh.part, ipc::Status::Failed, ipc::ErrorCode::Exception, 0, run_start, end,
                 ipc::encode_task_failure(failure));
}

namespace {
// Fills `f` from the exception being handled (call inside a catch block).
void capture_exception(ipc::TaskFailure* f, const char* what) {
  f->type = ipc::current_exception_type();
  f->message = what;
}
}  // namespace

bool ChildRuntime::call(const ipc::DecodedFrame& f, ipc::TaskFailure* failure) {
  const ipc::FrameHeader& fh = f.header;
  const TaskContext ctx({f.tensors, fh.ntensors}, {f.tags, fh.ntensors}, {f.scalars, fh.nscalars}, fh.task_id, 0,
                        fh.block_dim, s_.index, fh.part, fh.parts);
  const Callables& c = *s_.callables;
  switch (s_.kind) {
    case ChildKind::Chip:
      if (fh.callable >= c.kernels.size() || (!c.kernels[fh.callable].impl.fn && !c.kernels[fh.callable].impl.entry)) {
        failure->message = "unknown kernel id " + std::to_string(fh.callable);
        return false;
      }
      return backend_->run_kernel(c.kernels[fh.callable].impl, ctx, failure);
    case ChildKind::Sub:
      if (fh.callable >= c.hosts.size()) {
        failure->message = "unknown host callable id " + std::to_string(fh.callable);
        return false;
      }
      try {
        c.hosts[fh.callable].fn(ctx);
        return true;
      } catch (const std::exception& e) {
        capture_exception(failure, e.what());
      } catch (...) {
        capture_exception(failure, "host callable threw an exception that is not a std::exception");
      }
      return false;
    case ChildKind::Worker:
      if (fh.callable >= c.orchs.size()) {
        failure->message = "unknown orchestration function id " + std::to_string(fh.callable);
        return false;
      }
      if (s_.on_orch_task) s_.on_orch_task(fh.task_id);
      return run_orchestration(*s_.inner, c.orchs[fh.callable].fn, ctx, failure);
  }
  return false;
}

bool run_orchestration(Worker& inner, const OrchCallable& fn, const TaskContext& ctx, ipc::TaskFailure* failure) {
  try {
    inner.run([&](Orchestrator& o) { fn(o, ctx); });
    return true;
  } catch (const TaskError& e) {
    // A task of the inner Worker failed: its levels travel as data, its innermost failure as is.
    failure->type = e.error_type();
    failure->message = e.message();
    failure->frames = e.frames();
  } catch (const std::exception& e) {
    capture_exception(failure, e.what());
  } catch (...) {
    capture_exception(failure, "orchestration function threw an exception that is not a std::exception");
  }
  return false;
}

}  // namespace strata::child
