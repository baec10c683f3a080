#include "comm/backend.hpp"

#include <cstring>
#include <mutex>

namespace strata::comm {
namespace {

struct Entry {
  const char* name;
  BackendFactory factory;
  bool (*available)();
  BackendPrepare prepare;
};

std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}

const Entry* find(const std::string& name) {
  for (const Entry& e : registry())
    if (name == e.name) return &e;
  return nullptr;
}

}  // namespace

BackendRegistrar::BackendRegistrar(const char* name, BackendFactory factory, bool (*available)(),
                                   BackendPrepare prepare) noexcept {
  registry().push_back(Entry{name, factory, available, prepare});
}

std::unique_ptr<BackendShared> prepare_backend(const std::string& name, int chip_count, std::string* error) {
  const Entry* e = find(name);
  if (!e || !e->prepare) return nullptr;
  return e->prepare(chip_count, error);
}

bool kernel_invoke(const KernelImpl& k, const TaskContext& ctx, std::string* error) noexcept {
  char msg[512];
  msg[0] = '\0';
  int rc = k.entry ? k.entry(&ctx, msg, sizeof msg) : detail::kernel_entry_call(k.fn, &ctx, msg, sizeof msg);
  if (rc == 0) return true;
  *error = msg[0] ? msg : "kernel returned error " + std::to_string(rc);
  return false;
}

std::unique_ptr<ChipBackend> make_backend(const std::string& name) {
  const Entry* e = find(name);
  if (!e || !e->available()) return nullptr;
  return e->factory();
}

bool backend_available(const std::string& name) {
  const Entry* e = find(name);
  return e && e->available();
}

std::vector<std::string> backend_names() {
  std::vector<std::string> out;
  for (const Entry& e : registry()) out.push_back(std::string(e.name) + (e.available() ? "" : " (unavailable)"));
  return out;
}

}  // namespace strata::comm
