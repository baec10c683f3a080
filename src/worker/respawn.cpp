// worker/respawn.cpp — Worker::respawn(): between runs, re-forks every dead or lost child in place.
//
// Domains with a gone member are freed on the survivors first (their handles then throw), so nothing
// refers to the dead child's memory when its successor starts; a respawned chip inherits every kernel
// the parent knows (registered or loaded) by fork; the bring-up is repeated if it lost a member; child
// Workers that are alive are asked to respawn their own dead children.
#include "ipc/codec.hpp"
#include "util/sys.hpp"
#include "worker/worker_impl.hpp"

namespace strata::detail {

void WorkerImpl::respawn() {
  if (closed_) throw UsageError("respawn(): this Worker is closed");
  if (!initialized_) throw UsageError("respawn() before init(): call Worker::init() first");
  if (in_run_) throw UsageError("respawn() inside run(): return from the orchestration function first");
  check_threads("respawn()");
  sup_->poll();
  std::vector<supervisor::Child*> gone;
  for (supervisor::Child& c : sup_->children())
    if (c.state == supervisor::ChildState::Lost || c.state == supervisor::ChildState::Dead) gone.push_back(&c);
  for (supervisor::Child* c : gone)
    if (c->remote())
      throw Error("respawn(): " + sup_->gone_text(*c) +
                  "; a pod over MPI cannot start a rank again: close() the pod and launch the job again");
  const bool redo_bringup = !gone.empty() && domains_->drop_broken();
  const int64_t begin = sys::now_ns();
  const int64_t deadline = begin + ns(opts_.timeouts.init);
  try {
    for (supervisor::Child* c : gone) {
      sup_->prepare_respawn(*c);
      spawn(*c);
    }
    sup_->wait_ready(deadline, "respawn()", "WorkerOptions::timeouts.init, STRATA_INIT_TIMEOUT_MS");
  } catch (...) {
    // A child that cannot start again is gone again: reported on the next call.
    for (supervisor::Child* c : gone)
      if (c->state == supervisor::ChildState::Starting) {
        c->proc.kill();
        c->proc.reap(0);
        c->state = supervisor::ChildState::Dead;
        c->gone_how = "could not be respawned";
      }
    throw;
  }
  if (redo_bringup && !opts_.bringup.empty()) domains_->bringup(opts_.bringup, deadline);
  if constexpr (trace::kCompiledIn) {
    if (obs_ && !gone.empty()) {
      std::string names;
      for (supervisor::Child* c : gone) {
        names += (names.empty() ? "" : ", ") + sup_->name(*c);
        obs_->mark(trace::Mark::Respawned, c->kind, c->index, sys::now_ns(),
                   "generation " + std::to_string(c->generation));
      }
      obs_->span(trace::Span::Respawn, begin, sys::now_ns(), names);
    }
  }

  // Child Workers that are alive may have dead children of their own.
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_control(ipc::FrameKind::Respawn, nullptr, 0, frame);
  std::vector<std::pair<int, uint64_t>> asked;
  for (int i = 0; i < sup_->count(ChildKind::Worker); ++i) {
    supervisor::Child& c = sup_->child(ChildKind::Worker, i);
    bool fresh = false;
    for (supervisor::Child* g : gone) fresh |= g == &c;
    if (c.alive() && !fresh) asked.emplace_back(i, sup_->post_request(c, frame, len, deadline, "a respawn"));
  }
  for (auto& [i, id] : asked) {
    const supervisor::Reply r = sup_->wait_reply(id);
    if (r.kind != supervisor::Reply::Kind::Ok)
      throw Error("respawn(): " + sup_->name(ChildKind::Worker, i) + ": " + r.payload);
  }
}

}  // namespace strata::detail
