#include "support/proc_scan.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace strata::test {
namespace {

/// Parses /proc/<pid>/stat. The command name sits in parentheses and may itself contain ')' or spaces,
/// so the fields after it are found from the last ')'.
bool read_stat(pid_t pid, ProcInfo* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  const auto open = line.find('(');
  const auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= line.size()) return false;
  out->pid = pid;
  out->comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  long ppid = 0;
  rest >> out->state >> ppid;
  out->ppid = static_cast<pid_t>(ppid);
  return static_cast<bool>(rest);
}

bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

template <class F>
void for_each_dir_entry(const char* path, F&& f) {
  DIR* d = opendir(path);
  if (!d) return;
  while (dirent* e = readdir(d)) f(e->d_name);
  closedir(d);
}

}  // namespace

std::vector<ProcInfo> scan_processes() {
  std::vector<ProcInfo> out;
  for_each_dir_entry("/proc", [&](const char* name) {
    if (!all_digits(name)) return;
    ProcInfo p;
    if (read_stat(static_cast<pid_t>(std::atol(name)), &p)) out.push_back(p);
  });
  return out;
}

char process_state(pid_t pid) {
  ProcInfo p;
  return read_stat(pid, &p) ? p.state : '\0';
}

bool process_gone(pid_t pid) {
  const char s = process_state(pid);
  return s == '\0' || s == 'Z' || s == 'X';
}

std::vector<pid_t> child_pids(pid_t parent) {
  std::vector<pid_t> out;
  for (const ProcInfo& p : scan_processes())
    if (p.ppid == parent) out.push_back(p.pid);
  return out;
}

std::map<pid_t, std::string> descendants_of(pid_t root) {
  const std::vector<ProcInfo> all = scan_processes();
  std::map<pid_t, std::string> out;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    for (const ProcInfo& p : all) {
      if (p.ppid != parent || out.count(p.pid)) continue;
      out[p.pid] = std::to_string(p.pid) + " (" + p.comm + ") state " + p.state + ", parent " + std::to_string(p.ppid);
      frontier.push_back(p.pid);
    }
  }
  return out;
}

std::set<std::string> list_dev_shm() {
  std::set<std::string> names;
  for_each_dir_entry("/dev/shm", [&](const char* name) {
    const std::string n = name;
    if (n != "." && n != "..") names.insert(n);
  });
  return names;
}

std::map<int, std::string> list_open_fds() {
  std::map<int, std::string> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  const int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (!all_digits(e->d_name)) continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[512];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    out[fd] = n >= 0 ? std::string(target, static_cast<size_t>(n)) : std::string("?");
  }
  closedir(d);
  return out;
}

int thread_count() {
  int n = 0;
  for_each_dir_entry("/proc/self/task", [&](const char* name) {
    if (all_digits(name)) ++n;
  });
  return n;
}

}  // namespace strata::test
