#include "util/sys.hpp"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "strata/errors.hpp"
#include "util/config.hpp"

namespace strata::sys {

std::string errno_message(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

void throw_errno(const char* what) { throw SystemError(errno_message(what, errno)); }

size_t page_size() noexcept {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

void yield() noexcept { sched_yield(); }

void sleep_ns(int64_t ns) noexcept {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int64_t spin_budget_ns() noexcept {
  static const int64_t ns = static_cast<int64_t>(config::get_u64("spin_us")) * 1000;
  return ns;
}

}  // namespace strata::sys
