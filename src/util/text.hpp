// util/text.hpp — small text helpers for messages: joining lists, human-readable byte counts.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::util {

/// "a, b, c".
std::string join(const std::vector<std::string>& items, const char* sep = ", ");
/// "0 bytes", "512 bytes", "4 KiB", "1.5 MiB", "256 MiB", "4 GiB".
std::string bytes_text(uint64_t bytes);

}  // namespace strata::util
