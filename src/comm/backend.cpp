#include "comm/backend.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace strata::comm {
namespace {

struct Entry {
  const char* name;
  BackendFactory factory;
  bool (*available)();
  BackendPrepare prepare;
  BackendConfigure configure;
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

// Calls f(key, value) for each comma-separated item; false at the first item f refuses.
template <class F>
bool for_each_option(const std::string& text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (!f(item, eq == std::string::npos ? std::string() : item.substr(0, eq),
           eq == std::string::npos ? std::string() : item.substr(eq + 1), eq != std::string::npos))
      return false;
    pos = end + 1;
  }
  return true;
}

}  // namespace

BackendRegistrar::BackendRegistrar(const char* name, BackendFactory factory, bool (*available)(),
                                   BackendPrepare prepare, BackendConfigure configure) noexcept {
  registry().push_back(Entry{name, factory, available, prepare, configure});
}

std::unique_ptr<BackendShared> prepare_backend(const std::string& name, int chip_count, std::string* error) {
  const Entry* e = find(name);
  if (!e || !e->prepare) return nullptr;
  return e->prepare(chip_count, error);
}

bool kernel_invoke(const KernelImpl& k, const TaskContext& ctx, ipc::TaskFailure* failure) noexcept {
  // The entry writes "<exception type>\0<message>\0" (strata/kernel.hpp).
  char msg[ipc::kMaxNameBytes + kMaxErrorMessageBytes + 2];
  std::memset(msg, 0, sizeof msg);
  int rc = k.entry ? k.entry(&ctx, msg, sizeof msg) : detail::kernel_entry_call(k.fn, &ctx, msg, sizeof msg);
  if (rc == 0) return true;
  msg[sizeof msg - 1] = '\0';
  const size_t type_len = std::strlen(msg);
  failure->type.assign(msg, type_len);
  failure->message = type_len + 1 < sizeof msg ? std::string(msg + type_len + 1) : std::string();
  if (failure->message.empty()) failure->message = "kernel returned error " + std::to_string(rc);
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

bool configure_backend(const std::string& name, const std::string& options, std::string* settings, std::string* why) {
  settings->clear();
  const Entry* e = find(name);
  if (e && e->configure) return e->configure(options, settings, why);
  if (options.empty()) return true;
  *why = "WorkerOptions::backend.options '" + options + "': the " + name + " backend takes no options";
  return false;
}

bool validate_key_values(const std::string& text, std::span<const BackendOption> known, const char* noun,
                         std::string* why) {
  auto known_keys = [&] {
    std::string s;
    for (const BackendOption& o : known) s += (s.empty() ? "" : ", ") + std::string(o.key);
    return s.empty() ? std::string("none") : s;
  };
  return for_each_option(
      text, [&](const std::string& item, const std::string& key, const std::string& value, bool has_eq) {
        if (!has_eq || key.empty()) {
          *why = "'" + item + "' is not key=value";
          return false;
        }
        bool found = false;
        for (const BackendOption& o : known) found |= key == o.key;
        if (!found) {
          *why = "unknown " + std::string(noun) + " '" + key + "' (known: " + known_keys() + ")";
          return false;
        }
        char* end = nullptr;
        errno = 0;
        const long v = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno != 0 || v < 0) {
          *why = std::string(noun) + " '" + key + "' wants a non-negative integer, not '" + value + "'";
          return false;
        }
        return true;
      });
}

long key_value(const std::string& text, const std::string& key, long fallback) {
  long out = fallback;
  for_each_option(text, [&](const std::string&, const std::string& k, const std::string& value, bool) {
    if (k == key) out = std::strtol(value.c_str(), nullptr, 10);
    return true;
  });
  return out;
}

}  // namespace strata::comm
