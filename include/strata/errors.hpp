// strata/errors.hpp — the exceptions the public API throws.
//
// Every strata exception derives from strata::Error (itself a std::runtime_error). Inside strata no
// exception crosses a thread, a process or a C ABI: failures travel as status plus message through the
// mailboxes and are turned into one of these at the API boundary, in the thread that called strata.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace strata {

/// Base of every strata exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The API was used wrongly: run() before init(), an unknown kernel name, a worker index out of range,
/// arguments too large for a mailbox frame, submit() outside run(), ... The message says what to change.
/// Nothing was submitted and the Worker is unchanged.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// A bounded wait ran out: back-pressure on the task ring or the heap, a child that did not answer in
/// init() or close(). The message names the setting to raise.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// A system call failed; the message carries strerror(errno).
class SystemError : public Error {
 public:
  using Error::Error;
};

/// A child process of the Worker died (crashed, was killed, or was killed after a task timeout). Thrown
/// by every call after the death until close(); the message names the child and how it died.
class ChildDiedError : public Error {
 public:
  using Error::Error;
};

/// Kind of a Worker's child process.
enum class ChildKind : uint8_t { Chip = 0, Sub, Worker };
/// "chip", "sub", "worker".
const char* child_kind_name(ChildKind kind) noexcept;

/// run() failed because a task failed: the first failing task, where it ran and its message.
/// Tasks that depended on it were not run (poisoned). The Worker stays usable if its children are alive.
class TaskError : public Error {
 public:
  TaskError(const std::string& what, uint64_t task_id, std::string task_name, ChildKind kind, int child,
            std::string message)
      : Error(what),
        task_id_(task_id),
        task_name_(std::move(task_name)),
        kind_(kind),
        child_(child),
        message_(std::move(message)) {}
  uint64_t task_id() const noexcept { return task_id_; }
  const std::string& task_name() const noexcept { return task_name_; }
  ChildKind child_kind() const noexcept { return kind_; }
  /// Index of the child among its kind (chip index, sub index, worker index); -1 if none ran it.
  int child_index() const noexcept { return child_; }
  /// The child's own message (for a nested Worker, the chain of where it happened).
  const std::string& message() const noexcept { return message_; }

 private:
  uint64_t task_id_;
  std::string task_name_;
  ChildKind kind_;
  int child_;
  std::string message_;
};

}  // namespace strata
