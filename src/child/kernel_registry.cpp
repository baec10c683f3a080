#include "child/kernel_registry.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "ipc/task_failure.hpp"

namespace strata::child {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::pair<std::string, KernelFn>> kernels;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

KernelFn find_static_kernel(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [n, fn] : r.kernels)
    if (n == name) return fn;
  return nullptr;
}

std::vector<std::string> static_kernel_names() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  for (auto& kv : r.kernels) out.push_back(kv.first);
  return out;
}

}  // namespace strata::child

namespace strata::detail {

KernelRegistrar::KernelRegistrar(const char* name, KernelFn fn) noexcept {
  auto& r = child::registry();
  std::lock_guard lock(r.mu);
  for (auto& kv : r.kernels)
    if (kv.first == name) {
      kv.second = fn;  // a library loaded twice re-registers the same name
      return;
    }
  r.kernels.emplace_back(name, fn);
}

int kernel_entry_call(KernelFn fn, const TaskContext* ctx, char* err, size_t err_len) noexcept {
  // "<type>\0<message>\0", each part cut to what fits.
  auto put = [&](const std::string& type, const char* msg) {
    if (!err || err_len < 2) return;
    const int n = std::snprintf(err, err_len, "%s", type.c_str());
    const size_t at = std::min(err_len - 1, static_cast<size_t>(n < 0 ? 0 : n)) + 1;
    if (at < err_len) std::snprintf(err + at, err_len - at, "%s", msg);
  };
  try {
    fn(*ctx);
    return 0;
  } catch (const std::exception& e) {
    try {
      put(ipc::current_exception_type(), e.what());
    } catch (...) {
      put("", e.what());
    }
  } catch (...) {
    try {
      put(ipc::current_exception_type(), "kernel threw an exception that is not a std::exception");
    } catch (...) {
      put("", "kernel threw an exception that is not a std::exception");
    }
  }
  return 1;
}

}  // namespace strata::detail
