// pod/wire.cpp — tensor transfers and registries of a pod's conversation (see wire.hpp).
#include "pod/wire.hpp"

#include <algorithm>
#include <cstring>
#include <set>

namespace strata::pod {

bool moves_to_rank(Tag tag) noexcept { return tag == Tag::Input || tag == Tag::InOut; }

bool moves_to_root(Tag tag) noexcept { return tag == Tag::Output || tag == Tag::OutputExisting || tag == Tag::InOut; }

void post_tensors(Mpi& mpi, const ipc::DecodedFrame& f, bool to_rank, bool send, int peer, intptr_t shift,
                  std::vector<Request>* out) {
  for (uint16_t i = 0; i < f.header.ntensors; ++i) {
    if (!(to_rank ? moves_to_rank(f.tags[i]) : moves_to_root(f.tags[i]))) continue;
    char* p = static_cast<char*>(f.tensors[i].data) + shift;
    for (size_t left = f.tensors[i].nbytes(); left > 0;) {
      const size_t n = std::min(left, kChunkBytes);
      out->push_back(send ? mpi.isend(p, n, peer, kTagData) : mpi.irecv(p, n, peer, kTagData));
      p += n;
      left -= n;
    }
  }
}

bool tensors_within(const ipc::DecodedFrame& f, uintptr_t base, size_t bytes, std::string* why) {
  for (uint16_t i = 0; i < f.header.ntensors; ++i) {
    if (f.tags[i] == Tag::NoDep) continue;
    const auto p = reinterpret_cast<uintptr_t>(f.tensors[i].data);
    const size_t n = f.tensors[i].nbytes();
    if (p < base || p - base > bytes || n > bytes - (p - base)) {
      *why = "tensor " + std::to_string(i) + " (" + std::to_string(n) +
             " bytes) does not lie in the pod's memory, the only memory that moves between ranks";
      return false;
    }
  }
  return true;
}

std::string silence_text(int64_t silent_ns) {
  return "nothing heard for " + std::to_string(silent_ns / 1000000) +
         " ms (WorkerOptions::timeouts.heartbeat, STRATA_HEARTBEAT_TIMEOUT_MS)";
}

bool read_message(const char* buf, size_t bytes, MessageHeader* h, std::string* payload) {
  if (bytes < sizeof(MessageHeader) || bytes > kMaxMessage) return false;
  std::memcpy(h, buf, sizeof *h);
  if (h->magic != kMessageMagic || h->payload_bytes != bytes - sizeof(MessageHeader)) return false;
  payload->assign(buf + sizeof(MessageHeader), h->payload_bytes);
  return true;
}

namespace {
void put_list(std::string* s, const std::vector<std::string>& names) {
  const auto n = static_cast<uint32_t>(names.size());
  s->append(reinterpret_cast<const char*>(&n), sizeof n);
  for (const std::string& name : names) s->append(name.c_str(), name.size() + 1);
}

bool get_list(const char** p, const char* end, std::vector<std::string>* names) {
  uint32_t n = 0;
  if (end - *p < static_cast<ptrdiff_t>(sizeof n)) return false;
  std::memcpy(&n, *p, sizeof n);
  *p += sizeof n;
  for (uint32_t i = 0; i < n; ++i) {
    const char* nul = static_cast<const char*>(std::memchr(*p, 0, static_cast<size_t>(end - *p)));
    if (!nul) return false;
    names->emplace_back(*p, nul);
    *p = nul + 1;
  }
  return true;
}

void compare(const char* what, const std::vector<std::string>& root, const std::vector<std::string>& rank,
             std::vector<std::string>* out) {
  const std::set<std::string> a(root.begin(), root.end()), b(rank.begin(), rank.end());
  for (const std::string& n : a)
    if (!b.count(n)) out->push_back(std::string("it lacks ") + what + " '" + n + "'");
  for (const std::string& n : b)
    if (!a.count(n)) out->push_back(std::string("it has ") + what + " '" + n + "' the root does not");
}
}  // namespace

std::string Registry::encode() const {
  std::string s;
  put_list(&s, kernels);
  put_list(&s, hosts);
  put_list(&s, orchs);
  return s;
}

bool Registry::decode(const char* p, size_t len, Registry* out) {
  const char* end = p + len;
  return get_list(&p, end, &out->kernels) && get_list(&p, end, &out->hosts) && get_list(&p, end, &out->orchs);
}

std::string Registry::difference(const Registry& other) const {
  std::vector<std::string> d;
  compare("kernel", kernels, other.kernels, &d);
  compare("host callable", hosts, other.hosts, &d);
  compare("orchestration function", orchs, other.orchs, &d);
  std::string s;
  for (const std::string& x : d) s += (s.empty() ? "" : "; ") + x;
  return s;
}

}  // namespace strata::pod
