// ipc/task_failure.cpp — encoding of a failed task's completion payload (see task_failure.hpp).
//
// Layout: "STFL" magic, u16 type length, type, u16 frame count, per frame (i32 level, u64 task id,
// u8 child kind, i32 child index, u16 name length, name), then the message to the end of the payload.
#include "ipc/task_failure.hpp"

#include <cxxabi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <typeinfo>

#include "ipc/channel.hpp"
#include "strata/errors.hpp"

namespace strata::ipc {
namespace {

constexpr char kMagic[4] = {'S', 'T', 'F', 'L'};

// Cuts `s` to at most `bytes`, never inside a UTF-8 sequence.
void cut_utf8(std::string& s, size_t bytes) {
  if (s.size() <= bytes) return;
  size_t n = bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_text(std::string& out, std::string text) {
  cut_utf8(text, kMaxNameBytes);
  put(out, static_cast<uint16_t>(text.size()));
  out += text;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  bool get(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool get_text(std::string* s) {
    uint16_t n = 0;
    if (!get(&n) || in_.size() < n) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

}  // namespace

static_assert(sizeof kMagic + 2 + kMaxNameBytes + 2 + kMaxFailureFrames * (4 + 8 + 1 + 4 + 2 + kMaxNameBytes) +
                      kMaxErrorMessageBytes <=
                  kPayloadBytes,
              "a failure report must fit a completion's payload");

std::string bound_message(std::string message) {
  if (message.size() <= kMaxErrorMessageBytes) return message;
  const size_t total = message.size();
  // The suffix's own length bounds the kept part; 40 bytes hold it for any size_t.
  cut_utf8(message, kMaxErrorMessageBytes - 40);
  message += "... [cut: " + std::to_string(total - message.size()) + " more bytes]";
  return message;
}

std::string current_exception_type() {
  // A HostError names the foreign type it carries (a language binding's "ValueError"), not its own.
  if (std::exception_ptr current = std::current_exception()) {
    try {
      std::rethrow_exception(current);
    } catch (const HostError& e) {
      return e.type();
    } catch (...) {
      // any other: its C++ type, below
    }
  }
  const std::type_info* t = abi::__cxa_current_exception_type();
  if (t == nullptr) return "unknown";
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t->name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(t->name());
}

std::string encode_task_failure(const TaskFailure& f) {
  std::string out(kMagic, sizeof kMagic);
  put_text(out, f.type);
  const size_t frames = f.frames.size() < kMaxFailureFrames ? f.frames.size() : kMaxFailureFrames;
  put(out, static_cast<uint16_t>(frames));
  for (size_t i = 0; i < frames; ++i) {
    const Frame& fr = f.frames[i];
    put(out, static_cast<int32_t>(fr.level));
    put(out, fr.task_id);
    put(out, static_cast<uint8_t>(fr.child_kind));
    put(out, static_cast<int32_t>(fr.child_index));
    put(out, static_cast<int32_t>(fr.rank));
    put_text(out, fr.task_name);
  }
  out += bound_message(f.message);
  return out;
}

TaskFailure decode_task_failure(std::string_view payload) {
  TaskFailure f;
  if (payload.size() < sizeof kMagic || std::memcmp(payload.data(), kMagic, sizeof kMagic) != 0) {
    f.message.assign(payload);
    return f;
  }
  Reader r(payload.substr(sizeof kMagic));
  uint16_t frames = 0;
  bool ok = r.get_text(&f.type) && r.get(&frames) && frames <= kMaxFailureFrames;
  for (uint16_t i = 0; ok && i < frames; ++i) {
    Frame fr;
    int32_t level = 0, index = 0, rank = -1;
    uint8_t kind = 0;
    ok = r.get(&level) && r.get(&fr.task_id) && r.get(&kind) && r.get(&index) && r.get(&rank) &&
         r.get_text(&fr.task_name) && kind <= 2;
    fr.level = level;
    fr.child_kind = static_cast<ChildKind>(kind);
    fr.child_index = index;
    fr.rank = rank;
    f.frames.push_back(std::move(fr));
  }
  if (!ok) return TaskFailure{{}, std::string(payload), {}};
  f.message.assign(r.rest());
  return f;
}

}  // namespace strata::ipc
