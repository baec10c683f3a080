// tests/integration/internals.hpp — what the fault and supervision tests need from inside a Worker: the
// pid of a child (to kill or stop it from outside, as the world would) and its channel (to write a
// malformed completion, as a corrupted child would). Everything else in these tests uses the public API.
#pragma once

#include <sys/types.h>

#include <strata/strata.hpp>

#include "ipc/channel.hpp"
#include "support/proc_scan.hpp"
#include "support/wait.hpp"
#include "worker/worker_impl.hpp"

namespace strata::test {

/// The pid of a Worker's child (-1 if it is not running).
inline pid_t child_pid(Worker& w, ChildKind kind, int index) {
  return w.impl().supervisor().child(kind, index).proc.pid();
}

/// The shared channel of a Worker's child.
inline ipc::Channel* child_channel(Worker& w, ChildKind kind, int index) {
  return w.impl().supervisor().child(kind, index).channel.channel();
}

/// Waits until `pid` has exited (a zombie, or gone): the kernel has finished with its death.
inline bool wait_exited(pid_t pid) {
  return wait_until([&] { return process_gone(pid); }, std::chrono::seconds(20));
}

}  // namespace strata::test
