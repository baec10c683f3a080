// util/log.hpp — strata's one logger: levels, per-subsystem names, one environment variable.
//
// STRATA_LOG=error|warn|info|debug|trace sets the level (default warn; any other value is reported once on
// stderr, naming it and the accepted ones, and the default is used); STRATA_LOG_SUBSYS=sched,mailbox
// limits output to those subsystems. Both are read once per process, at the first line or at
// read_settings(), whichever comes first. Lines go to stderr, each prefixed with the process id so the
// output of children can be told apart. Trace logging compiles away unless STRATA_ENABLE_TRACE is set.
// Thread-safe; safe to call in a child process after fork.
#pragma once

#include <cstdarg>

namespace strata::log {

enum class Level : int { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

/// Reads STRATA_LOG and STRATA_LOG_SUBSYS if they have not been read yet. Called before every fork, so
/// that children inherit the settings and an unknown value is reported once, by the parent.
void read_settings() noexcept;
/// True when a line of `level` from `subsys` would be printed.
bool enabled(Level level, const char* subsys) noexcept;
/// Prints one line (use the macros).
void write(Level level, const char* subsys, const char* fmt, ...) noexcept __attribute__((format(printf, 3, 4)));

}  // namespace strata::log

#define STRATA_LOG_AT(lvl, subsys, ...)                                                      \
  do {                                                                                       \
    if (::strata::log::enabled(lvl, subsys)) ::strata::log::write(lvl, subsys, __VA_ARGS__); \
  } while (0)
#define STRATA_LOG_ERROR(subsys, ...) STRATA_LOG_AT(::strata::log::Level::Error, subsys, __VA_ARGS__)
#define STRATA_LOG_WARN(subsys, ...) STRATA_LOG_AT(::strata::log::Level::Warn, subsys, __VA_ARGS__)
#define STRATA_LOG_INFO(subsys, ...) STRATA_LOG_AT(::strata::log::Level::Info, subsys, __VA_ARGS__)
#define STRATA_LOG_DEBUG(subsys, ...) STRATA_LOG_AT(::strata::log::Level::Debug, subsys, __VA_ARGS__)
#ifdef STRATA_ENABLE_TRACE
#define STRATA_LOG_TRACE(subsys, ...) STRATA_LOG_AT(::strata::log::Level::Trace, subsys, __VA_ARGS__)
#else
#define STRATA_LOG_TRACE(subsys, ...) \
  do {                                \
  } while (0)
#endif
