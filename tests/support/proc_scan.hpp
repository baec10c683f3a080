// tests/support/proc_scan.hpp — what a process holds, read from /proc and /dev/shm.
//
// The leak checks and the process tests use these to see, from outside the runtime, which processes,
// descriptors, threads and /dev/shm entries exist. Everything here reads the file system at the moment
// of the call: there is no caching, and a process can appear or vanish right after a scan.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace strata::test {

/// One process as /proc/<pid>/stat shows it.
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';  ///< 'R', 'S', 'Z' (zombie: exited, not yet reaped), ...
  std::string comm;  ///< the command name, without the parentheses
};

/// Every process visible in /proc.
std::vector<ProcInfo> scan_processes();
/// The state letter of `pid`, or '\0' when no such process exists (reaped, or never existed).
char process_state(pid_t pid);
/// True when `pid` no longer runs: gone from /proc, or a zombie waiting to be reaped.
bool process_gone(pid_t pid);
/// The direct children of `parent` (zombies included).
std::vector<pid_t> child_pids(pid_t parent);
/// Every descendant of `root` (children, grandchildren, ...), zombies included, as "pid (comm) state X".
std::map<pid_t, std::string> descendants_of(pid_t root);

/// Names in /dev/shm (empty if it does not exist).
std::set<std::string> list_dev_shm();
/// The calling process's open descriptors, each with what it points at (readlink of /proc/self/fd/N).
std::map<int, std::string> list_open_fds();
/// Threads of the calling process (entries of /proc/self/task).
int thread_count();

}  // namespace strata::test
