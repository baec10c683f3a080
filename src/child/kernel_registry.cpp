#include "child/kernel_registry.hpp"

#include <cstdio>
#include <exception>
#include <mutex>
#include <utility>

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
  auto put = [&](const char* msg) {
    if (err && err_len) {
      std::snprintf(err, err_len, "%s", msg);
    }
  };
  try {
    fn(*ctx);
    return 0;
  } catch (const std::exception& e) {
    put(e.what());
  } catch (...) {
    put("kernel threw a non-standard exception");
  }
  return 1;
}

}  // namespace strata::detail
