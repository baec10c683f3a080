// ipc/task_failure.hpp — what a failed task's completion carries back to the parent: the type of the
// exception the child caught, the levels below the child (when the child is a Worker whose own task
// failed), and the message. It is the one format of a Failed task completion's payload (ipc/channel.hpp);
// control replies keep plain text.
//
// Bounds: a message of up to kMaxErrorMessageBytes (strata/errors.hpp) arrives whole; a longer one is cut
// there (at a UTF-8 character boundary) and ends with "... [cut: N more bytes]". Type and task names are
// cut at kMaxNameBytes, and at most kMaxFailureFrames levels travel. The encoding always fits
// kPayloadBytes. Pure functions: any thread, no shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "strata/errors.hpp"

namespace strata::ipc {

inline constexpr size_t kMaxNameBytes = 256;
inline constexpr size_t kMaxFailureFrames = 8;

struct TaskFailure {
  /// Demangled type of the exception caught, or "" (a failure that is not an exception).
  std::string type;
  std::string message;
  /// The levels below the child that ran the task, outermost first (empty for a chip or a sub).
  std::vector<Frame> frames;
};

/// `message` cut to kMaxErrorMessageBytes as described above (unchanged if it fits).
std::string bound_message(std::string message);
/// The demangled type of the exception being handled (call inside a catch block), or "unknown"; for a
/// HostError, the type it carries (HostError::type()).
std::string current_exception_type();

std::string encode_task_failure(const TaskFailure& f);
/// A payload that is not a valid encoding (e.g. from a foreign child) becomes the message, as is.
TaskFailure decode_task_failure(std::string_view payload);

}  // namespace strata::ipc
