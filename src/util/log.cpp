#include "util/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace strata::log {
namespace {

struct Settings {
  Level level = Level::Warn;
  std::string subsys;  // empty: all
};

// Read straight from the environment (not through util/config) so config can log without recursion.
const Settings& settings() {
  static const Settings s = [] {
    Settings out;
    if (const char* v = std::getenv("STRATA_LOG"); v && *v) {
      static const char* const names[] = {"error", "warn", "info", "debug", "trace"};
      bool known = false;
      for (int i = 0; i < 5; ++i)
        if (std::strcmp(v, names[i]) == 0) {
          out.level = static_cast<Level>(i);
          known = true;
        }
      // Not through write(): the level this line would be filtered by is the one being read.
      if (!known)
        std::fprintf(stderr,
                     "strata[%d] W log: ignoring STRATA_LOG=%s: expected one of error, warn, info, debug, trace; "
                     "logging at warn\n",
                     static_cast<int>(::getpid()), v);
    }
    if (const char* v = std::getenv("STRATA_LOG_SUBSYS"); v && std::strcmp(v, "all") != 0)
      out.subsys = std::string(",") + v + ",";
    return out;
  }();
  return s;
}

}  // namespace

void read_settings() noexcept { (void)settings(); }

bool enabled(Level level, const char* subsys) noexcept {
  const Settings& s = settings();
  if (static_cast<int>(level) > static_cast<int>(s.level)) return false;
  if (s.subsys.empty() || level == Level::Error) return true;
  return s.subsys.find(std::string(",") + subsys + ",") != std::string::npos;
}

void write(Level level, const char* subsys, const char* fmt, ...) noexcept {
  static const char* const names[] = {"E", "W", "I", "D", "T"};
  char line[1024];
  int n = std::snprintf(line, sizeof line, "strata[%d] %s %s: ", static_cast<int>(::getpid()),
                        names[static_cast<int>(level)], subsys);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && n < static_cast<int>(sizeof line))
    n += std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof line - 2);
  line[len] = '\n';
  // One write(2) per line keeps lines from different processes whole.
  ssize_t ignored = ::write(STDERR_FILENO, line, len + 1);
  (void)ignored;
}

}  // namespace strata::log
