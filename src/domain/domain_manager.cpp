// domain/domain_manager.cpp — validation and lifetime of communication domains, and the public Domain
// types (see domain_manager.hpp; the transaction, frees, copies and bring-up are in transaction.cpp).
#include "domain/domain_manager.hpp"

#include <algorithm>
#include <atomic>
#include <set>

#include "comm/window_layout.hpp"
#include "ipc/codec.hpp"
#include "util/checked.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::domain {
namespace {
constexpr uint32_t kAbortSlots = 4096;
}  // namespace

DomainManager::DomainManager(supervisor::Supervisor& sup, graph::Scheduler& sched, memory::Arena& arena,
                             memory::MemoryMap& memory, DomainOptions opts)
    : sup_(sup),
      sched_(sched),
      arena_(arena),
      memory_(memory),
      opts_(opts),
      aborts_(sizeof(uint32_t) * kAbortSlots),
      comm_up_(static_cast<size_t>(sup.count(ChildKind::Chip)), false) {
  for (uint32_t s = kAbortSlots; s-- > 0;) free_slots_.push_back(s);
}

DomainManager::~DomainManager() {
  for (auto& d : domains_) {
    d->state = detail::DomainRecord::State::Freed;
    d->owner = nullptr;
  }
}

uint32_t DomainManager::take_abort_slot() {
  if (free_slots_.empty())
    throw Error("allocate_domain: " + std::to_string(kAbortSlots) + " domains are live at once; release some first");
  const uint32_t s = free_slots_.back();
  free_slots_.pop_back();
  std::atomic_ref<uint32_t>(*abort_word(s)).store(0, std::memory_order_release);
  return s;
}

uint32_t* DomainManager::abort_word(uint32_t slot) const noexcept {
  return static_cast<uint32_t*>(aborts_.data()) + slot;
}

std::vector<LiveDomain> DomainManager::live() const {
  std::vector<LiveDomain> out;
  for (const auto& d : domains_)
    if (d->state == detail::DomainRecord::State::Live && !d->until_close && d->broken.empty())
      out.push_back(LiveDomain{d->name, d->allocation_id, d->workers});
  return out;
}

bool DomainManager::has_bringup() const noexcept {
  for (const auto& d : domains_)
    if (d->until_close && d->broken.empty()) return true;
  return false;
}

Domain DomainManager::allocate(const DomainSpec& spec) {
  const std::string what = "allocate_domain('" + spec.name + "')";
  const int chips = sup_.count(ChildKind::Chip);
  if (spec.workers.empty()) throw UsageError(what + ": workers is empty; name at least one chip");
  if (spec.workers.size() > STRATA_COMM_MAX_RANKS)
    throw UsageError(what + ": " + std::to_string(spec.workers.size()) + " members; a domain has at most " +
                     std::to_string(STRATA_COMM_MAX_RANKS));
  std::set<int> seen;
  for (int w : spec.workers) {
    if (w < 0 || w >= chips)
      throw UsageError(what + ": chip " + std::to_string(w) + " is out of range: this Worker has " +
                       std::to_string(chips) + " chips (0.." + std::to_string(chips - 1) + ")");
    if (!seen.insert(w).second) throw UsageError(what + ": chip " + std::to_string(w) + " is listed twice in workers");
  }
  if (spec.buffers.size() > ipc::kMaxDomainBuffers)
    throw UsageError(what + ": " + std::to_string(spec.buffers.size()) + " buffers; at most " +
                     std::to_string(ipc::kMaxDomainBuffers));
  std::set<std::string> names;
  std::vector<size_t> sizes;
  std::vector<std::string> buffer_names;
  for (const BufferSpec& b : spec.buffers) {
    buffer_names.push_back(b.name);
    if (!names.insert(b.name).second) throw UsageError(what + ": buffer name '" + b.name + "' is used twice");
    if (dtype_size(b.dtype) == 0) throw UsageError(what + ": buffer '" + b.name + "' has an invalid dtype");
    const auto bytes = util::checked_mul(b.count, dtype_size(b.dtype));
    if (!bytes)
      throw UsageError(what + ": buffer '" + b.name + "' (" + std::to_string(b.count) + " x " + dtype_name(b.dtype) +
                       ") is larger than the address space");
    sizes.push_back(*bytes);
  }
  std::string why;
  if (!comm::WindowLayout::make(spec.window_size, sizes, &why, buffer_names)) throw UsageError(what + ": " + why);
  for (const auto& d : domains_)
    if (d->state == detail::DomainRecord::State::Live && d->name == spec.name)
      throw UsageError(what + ": a domain named '" + spec.name + "' is live (allocation " +
                       std::to_string(d->allocation_id) + "); release it first or choose another name");
  for (int w : spec.workers) {
    const supervisor::Child& c = sup_.child(ChildKind::Chip, w);
    if (!c.alive()) throw ChildDiedError(what + ": " + sup_.gone_text(c));
  }
  Failure f;
  const int64_t deadline = sys::now_ns() + opts_.comm_timeout_ns;
  auto d = transaction(spec.name, spec.workers, spec.window_size, spec.buffers, deadline, &f);
  if (!d) throw_failure(what, f);
  return Domain(std::move(d));
}

void DomainManager::throw_failure(const std::string& what, const Failure& f) {
  const std::string msg = what + " failed on chip " + std::to_string(f.chip) + ": " + f.message +
                          " (every member's partial allocation was released)";
  if (f.timed_out)
    throw TimeoutError(msg +
                       "; a chip serves domain requests after the tasks already pushed to it, and a chip that "
                       "misses WorkerOptions::timeouts.comm (STRATA_COMM_TIMEOUT_MS) is declared lost");
  if (f.lost) throw ChildDiedError(msg);
  throw Error(msg);
}

void DomainManager::release(detail::DomainRecord& d) {
  if (d.state != detail::DomainRecord::State::Live) return;
  d.state = detail::DomainRecord::State::Released;
  for (const ChipContext& c : d.chips)
    memory_.refuse(reinterpret_cast<void*>(c.window_base),
                   "which was released; no new task may name a released domain");
  // Inside a run it is freed after the drain (submitted tasks may still use it); outside, now.
  if (!in_run_) {
    for (auto& p : domains_)
      if (p.get() == &d) {
        const auto keep = p;
        const std::string problem = free_all({keep}, sys::now_ns() + opts_.comm_timeout_ns);
        if (!problem.empty()) STRATA_LOG_WARN("comm", "%s", problem.c_str());
        break;
      }
  }
}

std::string DomainManager::end_run(bool failed) {
  std::vector<std::shared_ptr<detail::DomainRecord>> victims;
  // Newest first.
  for (auto it = domains_.rbegin(); it != domains_.rend(); ++it) {
    auto& d = *it;
    const bool sweep = failed && d->state == detail::DomainRecord::State::Live && !d->until_close;
    if (sweep) STRATA_LOG_INFO("comm", "run failed: sweeping live domain '%s'", d->name.c_str());
    if (sweep || d->state == detail::DomainRecord::State::Released || (!d->broken.empty() && !d->until_close)) {
      d->state = detail::DomainRecord::State::Released;
      victims.push_back(d);
    }
  }
  if (victims.empty()) return {};
  return free_all(victims, sys::now_ns() + opts_.comm_timeout_ns);
}

void DomainManager::on_chip_gone(int chip, const std::string& how) {
  for (auto& d : domains_) {
    if (d->state == detail::DomainRecord::State::Freed) continue;
    if (chip >= static_cast<int>(d->rank_of.size()) || d->rank_of[static_cast<size_t>(chip)] < 0) continue;
    // The word says which chip it was (index + 1), so a kernel's error names it.
    std::atomic_ref<uint32_t>(*abort_word(d->abort_slot))
        .store(static_cast<uint32_t>(chip) + 1, std::memory_order_release);
    if (d->broken.empty()) {
      d->broken = "its member chip " + std::to_string(chip) + " " + how;
      for (const ChipContext& c : d->chips)
        memory_.refuse(reinterpret_cast<void*>(c.window_base), "whose member chip " + std::to_string(chip) + " " + how);
    }
  }
  if (chip < static_cast<int>(comm_up_.size())) comm_up_[static_cast<size_t>(chip)] = false;
}

bool DomainManager::drop_broken() {
  std::vector<std::shared_ptr<detail::DomainRecord>> victims;
  bool bringup = false;
  for (auto it = domains_.rbegin(); it != domains_.rend(); ++it)
    if (!(*it)->broken.empty()) {
      bringup |= (*it)->until_close;
      victims.push_back(*it);
    }
  if (!victims.empty()) {
    const std::string problem = free_all(victims, sys::now_ns() + opts_.comm_timeout_ns);
    if (!problem.empty()) STRATA_LOG_WARN("comm", "%s", problem.c_str());
  }
  if (bringup) chip_contexts_.clear();
  return bringup;
}

void DomainManager::close() noexcept {
  std::vector<std::shared_ptr<detail::DomainRecord>> all(domains_.rbegin(), domains_.rend());
  if (!all.empty()) {
    const std::string problem = free_all(all, sys::now_ns() + opts_.close_timeout_ns);
    if (!problem.empty()) STRATA_LOG_WARN("comm", "close(): %s", problem.c_str());
  }
  for (auto& d : all) d->owner = nullptr;
  domains_.clear();
}

void DomainManager::forget(detail::DomainRecord& d) noexcept {
  d.state = detail::DomainRecord::State::Freed;
  for (const ChipContext& c : d.chips) memory_.remove(reinterpret_cast<void*>(c.window_base));
  free_slots_.push_back(d.abort_slot);
  domains_.erase(std::remove_if(domains_.begin(), domains_.end(), [&](const auto& p) { return p.get() == &d; }),
                 domains_.end());
}

}  // namespace strata::domain

// ---- public domain types ---------------------------------------------------------------------------

namespace strata {

const DomainBuffer& ChipContext::buffer(std::string_view buffer_name) const {
  for (const DomainBuffer& b : buffers)
    if (b.name == buffer_name) return b;
  std::string known;
  for (const DomainBuffer& b : buffers) known += (known.empty() ? "'" : ", '") + b.name + "'";
  throw UsageError((domain.empty() ? std::string("the bring-up") : "domain '" + domain + "'") +
                   " has no buffer named '" + std::string(buffer_name) + "' on chip " + std::to_string(chip) +
                   (known.empty() ? " (it has no buffers)" : " (buffers: " + known + ")"));
}

std::map<std::string, uint64_t> ChipContext::buffer_ptrs() const {
  std::map<std::string, uint64_t> out;
  for (const DomainBuffer& b : buffers) out[b.name] = reinterpret_cast<uint64_t>(b.data);
  return out;
}

Domain::Domain(Domain&& other) noexcept : rec_(std::move(other.rec_)) {}
Domain& Domain::operator=(Domain&& other) noexcept {
  if (this != &other) {
    try {
      release();
    } catch (...) {
      // Releasing outside a run talks to the chips; a failure there is logged, never thrown from here.
    }
    rec_ = std::move(other.rec_);
  }
  return *this;
}
Domain::~Domain() {
  try {
    release();
  } catch (...) {
  }
}

static const detail::DomainRecord& checked(const std::shared_ptr<detail::DomainRecord>& rec) {
  if (!rec) throw UsageError("empty Domain handle");
  return *rec;
}

const std::string& Domain::name() const { return checked(rec_).name; }
uint64_t Domain::allocation_id() const { return checked(rec_).allocation_id; }
const std::vector<int>& Domain::workers() const { return checked(rec_).workers; }
bool Domain::released() const { return !rec_ || rec_->state != detail::DomainRecord::State::Live; }

const ChipContext& Domain::operator[](int worker) const {
  const detail::DomainRecord& d = checked(rec_);
  if (!d.broken.empty())
    throw UsageError("domain '" + d.name + "' (allocation " + std::to_string(d.allocation_id) +
                     ") is invalid: " + d.broken + "; allocate a new domain");
  if (d.state != detail::DomainRecord::State::Live)
    throw UsageError("domain '" + d.name + "' (allocation " + std::to_string(d.allocation_id) +
                     ") was released; its contexts may no longer be used");
  if (worker < 0 || static_cast<size_t>(worker) >= d.rank_of.size() || d.rank_of[static_cast<size_t>(worker)] < 0) {
    std::string members;
    for (int w : d.workers) members += (members.empty() ? "" : ", ") + std::to_string(w);
    throw UsageError("domain '" + d.name + "': chip " + std::to_string(worker) +
                     " is not a member (members: " + members + ")");
  }
  return d.chips[static_cast<size_t>(d.rank_of[static_cast<size_t>(worker)])];
}

void Domain::release() {
  if (!rec_ || rec_->state != detail::DomainRecord::State::Live) return;
  if (rec_->owner)
    rec_->owner->release(*rec_);
  else
    rec_->state = detail::DomainRecord::State::Freed;
}

}  // namespace strata
