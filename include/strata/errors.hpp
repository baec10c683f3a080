// strata/errors.hpp — the exceptions the public API throws.
//
// Every strata exception derives from strata::Error (itself a std::runtime_error). Inside strata no
// exception crosses a thread, a process or a C ABI: failures travel as status plus message through the
// mailboxes and are turned into one of these at the API boundary, in the thread that called strata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

/// Thrown by a host callable, a kernel or an orchestration function to report its failure under a type name
/// of its choosing instead of its C++ type: TaskError::error_type() is then `type`. Language bindings use it
/// to carry a foreign exception's type (the Python binding reports "ZeroDivisionError", not a C++ wrapper's
/// name).
class HostError : public Error {
 public:
  HostError(std::string type, const std::string& message) : Error(message), type_(std::move(type)) {}
  const std::string& type() const noexcept { return type_; }

 private:
  std::string type_;
};

/// Kind of a Worker's child process.
enum class ChildKind : uint8_t { Chip = 0, Sub, Worker };
/// "chip", "sub", "worker".
const char* child_kind_name(ChildKind kind) noexcept;

/// One level of a task failure: the task that failed at that level and the child that ran it.
struct Frame {
  /// Level of the Worker that submitted the task (3: a node, 4: a pod, ...).
  int level = 3;
  uint64_t task_id = 0;
  std::string task_name;
  ChildKind child_kind = ChildKind::Chip;
  /// Index of the child among its kind (chip index, sub index, worker index); -1 if none ran it.
  int child_index = -1;
  /// A pod over MPI: the rank of the child Worker that ran it (child_index + 1); -1 otherwise.
  int rank = -1;
};

/// The most bytes of a failure's message that cross a mailbox whole; a longer message is cut there and
/// says so ("... [cut: N more bytes]").
inline constexpr size_t kMaxErrorMessageBytes = 4096;

/// run() failed because a task failed: the first failing task, where it ran, and what went wrong there.
/// Tasks that depended on it were not run (poisoned). The Worker stays usable if its children are alive.
///
/// At level 4 and above the failure happened inside a task of a child Worker: frames() holds every
/// level, this Worker's task first and the task that actually failed last; message() and error_type()
/// describe the innermost failure. what() is one line: "task #3 'step' failed on worker 1: task #5 'mm'
/// failed on chip 1: std::runtime_error: <message>".
class TaskError : public Error {
 public:
  /// `frames` outermost first (at least one); `error_type` the demangled type of the exception caught
  /// where the task failed ("" if the failure was not an exception: a timeout, a lost child, ...).
  TaskError(std::vector<Frame> frames, std::string error_type, std::string message);

  /// This Worker's failing task and the child that ran it (frames().front()).
  uint64_t task_id() const noexcept { return frames_.front().task_id; }
  const std::string& task_name() const noexcept { return frames_.front().task_name; }
  ChildKind child_kind() const noexcept { return frames_.front().child_kind; }
  int child_index() const noexcept { return frames_.front().child_index; }
  /// What the failing code said (the exception's what(), or strata's account of a timeout or a death),
  /// at the innermost level.
  const std::string& message() const noexcept { return message_; }
  /// The type of the exception the failing task threw, demangled ("std::out_of_range", "SentinelError");
  /// "" when the failure was not an exception.
  const std::string& error_type() const noexcept { return error_type_; }
  /// Every level, outermost first: one frame at level 3, one more per level of nesting.
  const std::vector<Frame>& frames() const noexcept { return frames_; }

 private:
  std::vector<Frame> frames_;
  std::string error_type_;
  std::string message_;
};

}  // namespace strata
