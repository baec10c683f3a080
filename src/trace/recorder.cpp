// trace/recorder.cpp — the Recorder's rings and the Chrome trace-event writer (see recorder.hpp).
#include "trace/recorder.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "strata/version.hpp"
#include "util/sys.hpp"

namespace strata::trace {

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::Failed:
      return "failed";
    case Status::Poisoned:
      return "poisoned";
    case Status::Cancelled:
      return "cancelled";
  }
  return "?";
}

const char* span_name(Span s) noexcept {
  switch (s) {
    case Span::Init:
      return "init";
    case Span::Run:
      return "run";
    case Span::Drain:
      return "drain";
    case Span::Backpressure:
      return "back-pressure";
    case Span::DomainPrepare:
      return "domain prepare";
    case Span::DomainCommit:
      return "domain commit";
    case Span::DomainFree:
      return "domain free";
    case Span::Copy:
      return "copy";
    case Span::Respawn:
      return "respawn";
  }
  return "?";
}

const char* mark_name(Mark m) noexcept {
  switch (m) {
    case Mark::Died:
      return "died";
    case Mark::Lost:
      return "declared lost";
    case Mark::Respawned:
      return "respawned";
  }
  return "?";
}

namespace {

using json = nlohmann::json;

double us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

// The flow from a pod's task (in graph `graph`) to the run of the child Worker that ran it.
std::string pod_flow_id(const std::string& graph, uint64_t task) { return graph + ":runs-" + std::to_string(task); }

// Where the events go: a file, or a child Worker's spill region. Events are written one at a time, so
// memory stays bounded whatever the trace's size.
class Sink {
 public:
  explicit Sink(FILE* f) : f_(f) {}
  Sink(SpillHeader* spill, size_t bytes)
      : spill_(spill), cap_(bytes > sizeof(SpillHeader) ? bytes - sizeof(SpillHeader) : 0) {}
  /// Every event's pid and tid move by `pid_base`, its time back by `offset_ns` (another host's trace).
  void shift(int pid_base, int64_t offset_ns) {
    pid_base_ = pid_base;
    offset_us_ = static_cast<double>(offset_ns) / 1000.0;
  }
  void event(const json& j) {
    if (pid_base_ == 0 && offset_us_ == 0) return raw(j.dump());
    json k = j;
    for (const char* key : {"pid", "tid"})
      if (auto it = k.find(key); it != k.end() && it->is_number_integer()) *it = it->get<int64_t>() + pid_base_;
    if (auto it = k.find("ts"); it != k.end() && it->is_number()) *it = it->get<double>() - offset_us_;
    raw(k.dump());
  }
  void raw(const std::string& text) {
    if (spill_) {
      const size_t need = text.size() + (used_ ? 1 : 0);
      if (used_ + need > cap_) {
        ++dropped_;
        return;
      }
      char* base = reinterpret_cast<char*>(spill_ + 1);
      if (used_) base[used_++] = ',';
      std::memcpy(base + used_, text.data(), text.size());
      used_ += text.size();
      return;
    }
    if (!first_) std::fputc(',', f_);
    first_ = false;
    std::fputc('\n', f_);
    std::fwrite(text.data(), 1, text.size(), f_);
  }
  uint64_t dropped() const noexcept { return dropped_; }
  size_t used() const noexcept { return used_; }

 private:
  FILE* f_ = nullptr;
  SpillHeader* spill_ = nullptr;
  size_t cap_ = 0;
  size_t used_ = 0;
  bool first_ = true;
  uint64_t dropped_ = 0;
  int pid_base_ = 0;
  double offset_us_ = 0;
};

}  // namespace

namespace {
std::atomic<uint64_t> recorders_created{0};

template <class T>
T take(const unsigned char*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}
}  // namespace

uint64_t Recorder::created() noexcept { return recorders_created.load(std::memory_order_relaxed); }

Recorder::Recorder(RecorderOptions opts)
    : opts_(std::move(opts)),
      pid_(static_cast<int>(getpid())),
      created_ns_(sys::now_ns()),
      submits_(opts_.events_per_track),
      spans_(opts_.events_per_track),
      marks_(opts_.events_per_track),
      counters_(opts_.events_per_track),
      texts_(opts_.events_per_track) {
  first_[0] = 0;
  first_[1] = opts_.counts[0];
  first_[2] = opts_.counts[0] + opts_.counts[1];
  const size_t children = static_cast<size_t>(opts_.counts[0] + opts_.counts[1] + opts_.counts[2]);
  child_pid_.assign(children, 0);
  child_name_.assign(children, "");
  for (size_t i = 0; i <= children; ++i) parts_.emplace_back(opts_.events_per_track);
  // Mapping memory is not cheap (a few microseconds a page on some VMs): the rings of the events every
  // task makes — its submit and its parts — and room for its tensors are mapped now, not while tasks
  // are dispatched. The rarer events (spans, marks, counters) map their blocks as they come.
  submits_.reserve(opts_.events_per_track);
  for (size_t i = 0; i < children; ++i) parts_[i].reserve(opts_.events_per_track);
  submit_data_.reserve(opts_.events_per_track * 32);
  recorders_created.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::child_started(ChildKind kind, int index, int pid, uint32_t generation, const std::string& name) {
  const size_t s = slot(kind, index);
  child_pid_[s] = pid;
  child_name_[s] = prefix() + name;
  tracks_.push_back(Track{child_name_[s] + (generation ? " (respawned " + std::to_string(generation) + ")" : ""), pid});
}

void Recorder::submitted(const Submitted& s) {
  // The variable part, packed: where each part's tensors end, the tensors, the members, the producers.
  size_t bytes =
      s.parts.size() * sizeof(uint32_t) + s.members.size() * sizeof(int32_t) + s.producers.size() * sizeof(uint64_t);
  for (const TaskArgs& a : s.parts)
    for (size_t i = 0; i < a.tensor_count(); ++i)
      bytes += 3 + static_cast<size_t>(std::min<int>(a.tensor(i).ndim, kMaxDims)) * sizeof(int64_t);
  if (scratch_.size() < bytes) scratch_.resize(std::max(bytes, size_t{4096}));
  unsigned char* out = scratch_.data();
  auto put = [&out](const auto& v) {
    std::memcpy(out, &v, sizeof v);
    out += sizeof v;
  };
  uint32_t tensors = 0;
  for (const TaskArgs& a : s.parts) {
    tensors += static_cast<uint32_t>(a.tensor_count());
    put(tensors);
  }
  for (const TaskArgs& a : s.parts)
    for (size_t i = 0; i < a.tensor_count(); ++i) {
      const Tensor& t = a.tensor(i);
      const auto ndim = static_cast<uint8_t>(std::min<int>(t.ndim, kMaxDims));
      put(static_cast<uint8_t>(a.tag(i)));
      put(static_cast<uint8_t>(t.dtype));
      put(ndim);
      std::memcpy(out, t.shape.data(), ndim * sizeof(int64_t));
      out += ndim * sizeof(int64_t);
    }
  for (int m : s.members) put(static_cast<int32_t>(m));
  if (!s.producers.empty()) {
    std::memcpy(out, s.producers.data(), s.producers.size_bytes());
    out += s.producers.size_bytes();
  }

  if (submits_.full()) {
    // The oldest submit goes: so do its bytes (and everything before them).
    const SubmitRec& oldest = submits_.next_slot();
    submit_data_.forget(oldest.data + oldest.data_bytes);
  }
  SubmitRec& r = submits_.push();
  r.task = s.task;
  r.run = s.run;
  r.name = s.name;
  r.ns = s.ns;
  r.data = submit_data_.append(scratch_.data(), bytes);
  r.data_bytes = static_cast<uint32_t>(bytes);
  r.parts = static_cast<uint32_t>(s.parts.size());
  r.block_dim = s.block_dim;
  r.tensors = tensors;
  r.members = static_cast<uint32_t>(s.members.size());
  r.producers = static_cast<uint32_t>(s.producers.size());
  r.kind = s.kind;
}

void Recorder::part_done(uint64_t task, uint32_t part, ChildKind kind, int child, int64_t start_ns, int64_t end_ns,
                         Status status, std::string_view message) {
  const size_t s = slot(kind, child);
  PartRec& r = parts_[s].push();
  r.task = task;
  r.part = part;
  r.ran = status != Status::Poisoned;  // a poisoned part only waited for its producers
  r.status = status;
  r.pid = child_pid_[s];
  r.start = r.ran ? start_ns : end_ns;
  r.end = std::max(end_ns, r.start);
  r.message = texts_.add(message);
}

void Recorder::task_done(uint64_t task, Status status, std::string_view message, int64_t ns) {
  PartRec& r = parts_.back().push();
  r.task = task;
  r.part = UINT32_MAX;
  r.ran = false;
  r.status = status;
  r.pid = 0;
  r.start = r.end = ns;
  r.message = texts_.add(message);
}

void Recorder::span(Span kind, int64_t begin_ns, int64_t end_ns, std::string_view detail) {
  // A stream of submits against a full ring waits once per task: back-pressure waits less than 20 us
  // apart (for the same reason) become one span that counts them and the time they blocked.
  constexpr int64_t kMergeGapNs = 20'000;
  if (kind == Span::Backpressure && last_span_ && last_span_->kind == Span::Backpressure &&
      begin_ns - last_span_->end < kMergeGapNs && texts_.get(last_span_->detail) == detail) {
    last_span_->end = std::max(end_ns, last_span_->end);
    ++last_span_->waits;
    last_span_->blocked += std::max<int64_t>(0, end_ns - begin_ns);
    return;
  }
  SpanRec& r = spans_.push();
  last_span_ = &r;
  r.waits = 1;
  r.blocked = std::max<int64_t>(0, end_ns - begin_ns);
  r.kind = kind;
  r.begin = begin_ns;
  r.end = std::max(end_ns, begin_ns);
  r.detail = texts_.add(detail);
  r.parent_task = kind == Span::Run ? parent_task_ : 0;
}

void Recorder::mark(Mark kind, ChildKind child_kind, int child, int64_t ns, std::string_view what) {
  MarkRec& r = marks_.push();
  r.kind = kind;
  r.pid = child_pid_[slot(child_kind, child)];
  r.ns = ns;
  r.what = texts_.add(what);
}

void Recorder::counters(int64_t ns, uint64_t ring_in_flight, uint64_t heap_used, std::span<const uint32_t> depths) {
  if (counters_.full()) counter_data_.forget(counters_.next_slot().depths + depths.size_bytes());
  CounterRec& r = counters_.push();
  r.ns = ns;
  r.ring = ring_in_flight;
  r.heap = heap_used;
  r.depths = counter_data_.append(depths.data(), depths.size_bytes());
}

std::unordered_map<uint64_t, Recorder::SubmitInfo> Recorder::decode_submits() const {
  std::unordered_map<uint64_t, SubmitInfo> out;
  std::vector<unsigned char> bytes;
  submits_.for_each([&](const SubmitRec& r) {
    bytes.resize(r.data_bytes);
    submit_data_.read(r.data, bytes.data(), bytes.size());
    const unsigned char* p = bytes.data();
    SubmitInfo& info = out[r.task];
    info.rec = &r;
    for (uint32_t i = 0; i < r.parts; ++i) info.part_end.push_back(take<uint32_t>(p));
    for (uint32_t i = 0; i < r.tensors; ++i) {
      const auto tag = static_cast<Tag>(take<uint8_t>(p));
      const auto dtype = static_cast<DType>(take<uint8_t>(p));
      const auto ndim = take<uint8_t>(p);
      std::string text = std::string(tag_name(tag)) + " " + dtype_name(dtype) + " [";
      for (uint8_t d = 0; d < ndim; ++d) text += (d ? ", " : "") + std::to_string(take<int64_t>(p));
      info.tensors.push_back(text + "]");
    }
    for (uint32_t i = 0; i < r.members; ++i) info.members.push_back(take<int32_t>(p));
    for (uint32_t i = 0; i < r.producers; ++i) info.producers.push_back(take<uint64_t>(p));
  });
  return out;
}

size_t Recorder::dropped() const noexcept {
  size_t n = submits_.dropped() + spans_.dropped() + marks_.dropped() + counters_.dropped();
  for (const auto& r : parts_) n += r.dropped();
  return n;
}

std::string Recorder::write() noexcept {
  try {
    if (opts_.spill) {
      write_events(nullptr);
      return {};
    }
    FILE* f = std::fopen(opts_.path.c_str(), "w");
    if (!f) return "cannot open '" + opts_.path + "' for writing: " + std::strerror(errno);
    std::fputs("{\"traceEvents\":[", f);
    const uint64_t dropped_events = write_events(f);
    std::string err;
    json other;
    other["strata_version"] = strata::version();
    other["dropped_events"] = dropped_events;
    other["clock"] = "CLOCK_MONOTONIC, microseconds";
    std::fputs("\n],\"displayTimeUnit\":\"ms\",\"otherData\":", f);
    const std::string o = other.dump();
    std::fwrite(o.data(), 1, o.size(), f);
    std::fputs("}\n", f);
    if (std::fclose(f) != 0 && err.empty()) err = "writing '" + opts_.path + "' failed: " + std::strerror(errno);
    return err;
  } catch (const std::exception& e) {
    return std::string("writing the trace failed: ") + e.what();
  }
}

uint64_t Recorder::write_events(std::FILE* f) const {
  Sink sink = f ? Sink(f) : Sink(opts_.spill, opts_.spill_bytes);
  sink.shift(opts_.pid_base, opts_.clock_offset_ns);
  const bool top = opts_.spill == nullptr;

  // Process tracks.
  if (top) {
    sink.event(
        {{"ph", "M"}, {"name", "process_name"}, {"pid", pid_}, {"tid", pid_}, {"args", {{"name", "orchestrator"}}}});
    sink.event(
        {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid_}, {"tid", pid_}, {"args", {{"sort_index", -1}}}});
  }
  int order = 0;
  for (const Track& t : tracks_) {
    sink.event({{"ph", "M"}, {"name", "process_name"}, {"pid", t.pid}, {"tid", t.pid}, {"args", {{"name", t.name}}}});
    sink.event({{"ph", "M"},
                {"name", "process_sort_index"},
                {"pid", t.pid},
                {"tid", t.pid},
                {"args", {{"sort_index", order++}}}});
  }

  // What each task was, from its submit.
  const std::unordered_map<uint64_t, SubmitInfo> submit_of = decode_submits();
  auto task_name = [&](uint64_t id) -> std::string {
    auto it = submit_of.find(id);
    return it != submit_of.end() && it->second.rec->name ? *it->second.rec->name : "task #" + std::to_string(id);
  };

  // Where each task ran first (for flows): pid, start, end.
  struct Ran {
    int pid;
    int64_t start, end;
  };
  std::unordered_map<uint64_t, Ran> ran;
  for (const auto& ring : parts_)
    ring.for_each([&](const PartRec& r) {
      if (!r.ran) return;
      auto [it, fresh] = ran.emplace(r.task, Ran{r.pid, r.start, r.end});
      if (!fresh) {
        it->second.start = std::min(it->second.start, r.start);
        it->second.end = std::max(it->second.end, r.end);
      }
    });

  // Task parts, on the track of the child that ran them. A task that never reached a child shows one
  // zero-length mark per part, on the track of the child it was aimed at (or the orchestrator's).
  auto emit_part = [&](size_t s, const PartRec& r, uint32_t part, const SubmitInfo* sub) {
    json args;
    args["task"] = r.task;
    args["graph"] = opts_.graph;
    args["status"] = status_name(r.status);
    args["ran"] = r.ran;
    if (const std::string& message = texts_.get(r.message); !message.empty()) args["error"] = message;
    int pid = r.pid;
    std::string worker = s < child_name_.size() ? child_name_[s] : std::string();
    if (sub) {
      args["run"] = sub->rec->run;
      args["deps"] = sub->producers;
      args["block_dim"] = sub->rec->block_dim;
      if (sub->rec->parts > 1) {
        args["part"] = part;
        args["parts"] = sub->rec->parts;
      }
      json tensors = json::array();
      const uint32_t begin = part == 0 || part > sub->part_end.size() ? 0 : sub->part_end[part - 1];
      for (uint32_t i = begin; part < sub->part_end.size() && i < sub->part_end[part]; ++i)
        tensors.push_back(sub->tensors[i]);
      args["tensors"] = tensors;
      if (pid == 0 && part < sub->members.size() && sub->members[part] >= 0) {
        const size_t target = slot(sub->rec->kind, sub->members[part]);
        if (target < child_pid_.size()) {
          pid = child_pid_[target];
          worker = child_name_[target];
        }
      }
    }
    if (pid == 0) pid = pid_;  // never ran, aimed at no fixed child: the orchestrator's track
    if (!worker.empty()) args["worker"] = worker;
    sink.event({{"ph", "X"},
                {"cat", "task"},
                {"name", task_name(r.task)},
                {"pid", pid},
                {"tid", pid},
                {"ts", us(r.start)},
                {"dur", us(r.end - r.start)},
                {"args", args}});
    // A pod's child Worker links its run of this task back to this slice.
    if (r.ran && s >= static_cast<size_t>(first_[2]) && s < child_name_.size())
      sink.event({{"ph", "s"},
                  {"cat", "pod"},
                  {"name", "runs"},
                  {"id", pod_flow_id(opts_.graph, r.task)},
                  {"pid", pid},
                  {"tid", pid},
                  {"ts", us(r.start)}});
  };
  for (size_t s = 0; s < parts_.size(); ++s) {
    parts_[s].for_each([&](const PartRec& r) {
      auto it = submit_of.find(r.task);
      const SubmitInfo* sub = it != submit_of.end() ? &it->second : nullptr;
      if (r.part != UINT32_MAX) {
        emit_part(s, r, r.part, sub);
        return;
      }
      for (uint32_t p = 0; p < (sub ? sub->rec->parts : 1); ++p) emit_part(s, r, p, sub);
    });
  }

  // Submits on the orchestrator's track, with a flow to where each task started, and the dependency
  // flows from each producer's end to its consumer's start.
  submits_.for_each([&](const SubmitRec& r) {
    sink.event({{"ph", "X"},
                {"cat", "submit"},
                {"name", "submit " + task_name(r.task)},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.ns)},
                {"dur", 0.001},
                {"args", {{"task", r.task}, {"graph", opts_.graph}}}});
    auto to = ran.find(r.task);
    if (to == ran.end()) return;
    const std::string id = opts_.graph + ":submit-" + std::to_string(r.task);
    sink.event({{"ph", "s"},
                {"cat", "submit"},
                {"name", "submit"},
                {"id", id},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.ns)}});
    sink.event({{"ph", "f"},
                {"bp", "e"},
                {"cat", "submit"},
                {"name", "submit"},
                {"id", id},
                {"pid", to->second.pid},
                {"tid", to->second.pid},
                {"ts", us(to->second.start)}});
    for (uint64_t p : submit_of.at(r.task).producers) {
      auto from = ran.find(p);
      if (from == ran.end()) continue;
      const std::string dep = opts_.graph + ":dep-" + std::to_string(p) + "-" + std::to_string(r.task);
      sink.event({{"ph", "s"},
                  {"cat", "dep"},
                  {"name", "dependency"},
                  {"id", dep},
                  {"pid", from->second.pid},
                  {"tid", from->second.pid},
                  {"ts", us(std::max(from->second.start, from->second.end - 1))}});
      sink.event({{"ph", "f"},
                  {"bp", "e"},
                  {"cat", "dep"},
                  {"name", "dependency"},
                  {"id", dep},
                  {"pid", to->second.pid},
                  {"tid", to->second.pid},
                  {"ts", us(to->second.start)}});
    }
  });

  // Parent-side work.
  spans_.for_each([&](const SpanRec& r) {
    json args = json::object();
    if (const std::string& detail = texts_.get(r.detail); !detail.empty()) args["detail"] = detail;
    if (r.kind == Span::Backpressure) {
      args["waits"] = r.waits;
      args["blocked_us"] = us(r.blocked);
    }
    if (r.parent_task) args["parent_task"] = r.parent_task;
    sink.event({{"ph", "X"},
                {"cat", "parent"},
                {"name", span_name(r.kind)},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.begin)},
                {"dur", us(r.end - r.begin)},
                {"args", args}});
    if (r.parent_task)
      sink.event({{"ph", "f"},
                  {"bp", "e"},
                  {"cat", "pod"},
                  {"name", "runs"},
                  {"id", pod_flow_id(opts_.parent_graph, r.parent_task)},
                  {"pid", pid_},
                  {"tid", pid_},
                  {"ts", us(r.begin)}});
  });
  marks_.for_each([&](const MarkRec& r) {
    const int pid = r.pid ? r.pid : pid_;
    sink.event({{"ph", "i"},
                {"s", "p"},
                {"cat", "child"},
                {"name", mark_name(r.kind)},
                {"pid", pid},
                {"tid", pid},
                {"ts", us(r.ns)},
                {"args", {{"what", texts_.get(r.what)}}}});
  });
  std::vector<uint32_t> depths;
  counters_.for_each([&](const CounterRec& r) {
    sink.event({{"ph", "C"},
                {"name", prefix() + "task ring"},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.ns)},
                {"args", {{"in flight", r.ring}}}});
    sink.event({{"ph", "C"},
                {"name", prefix() + "heap"},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.ns)},
                {"args", {{"bytes", r.heap}}}});
    json q = json::object();
    depths.resize(child_name_.size());
    counter_data_.read(r.depths, depths.data(), depths.size() * sizeof(uint32_t));
    for (size_t s = 0; s < depths.size(); ++s) q[child_name_[s]] = depths[s];
    sink.event({{"ph", "C"},
                {"name", prefix() + "queued frames"},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(r.ns)},
                {"args", q}});
  });
  const size_t own_dropped = dropped();
  if (own_dropped)
    sink.event({{"ph", "i"},
                {"s", "g"},
                {"name", "events dropped"},
                {"pid", pid_},
                {"tid", pid_},
                {"ts", us(created_ns_)},
                {"args", {{"dropped", own_dropped}, {"why", "the trace rings were full (STRATA_TRACE_EVENTS)"}}}});

  // The child Workers' own traces.
  uint64_t child_dropped = 0;
  for (const auto& [index, spill] : spills_) {
    if (spill->magic != kSpillMagic) {
      sink.event({{"ph", "i"},
                  {"s", "g"},
                  {"name", "child Worker trace missing"},
                  {"pid", pid_},
                  {"tid", pid_},
                  {"ts", us(created_ns_)},
                  {"args", {{"worker", index}, {"why", "it did not close (it died or was killed)"}}}});
      continue;
    }
    child_dropped += spill->dropped;
    if (spill->bytes) sink.raw(std::string(reinterpret_cast<const char*>(spill + 1), spill->bytes));
  }
  if (!f) {
    // The header last: it is what makes the events visible to the parent.
    opts_.spill->bytes = sink.used();
    opts_.spill->dropped = sink.dropped() + own_dropped + child_dropped;
    std::atomic_thread_fence(std::memory_order_release);
    opts_.spill->magic = kSpillMagic;
  }
  return sink.dropped() + own_dropped + child_dropped;
}

}  // namespace strata::trace
