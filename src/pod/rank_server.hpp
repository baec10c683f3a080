// pod/rank_server.hpp — what every rank but 0 of a pod over MPI does inside Worker::init(): serve the
// root until it closes.
//
// The rank says hello (its pid, host and registrations), takes the root's welcome (the size and place of
// the root's pod memory, the heartbeat, the names of the orchestration functions), starts its own Worker
// (level - 1, its chips forked here) over a copy of the root's pod memory at the same offsets, reports
// ready, then serves the root's messages in order: a task's INPUT and INOUT contents land in the copy, the
// orchestration function runs on the rank's Worker, and the answer goes back with the OUTPUT,
// OUTPUT_EXISTING and INOUT contents. While a task runs, the rank's Worker calls back here at every wait
// (heartbeats out, the root's messages in). A traced pod: before its Worker starts, the rank measures its
// clock's offset from rank 0's (ping-pongs) and has the Worker record into a spill, sent after its Bye.
// Only this thread calls MPI.
//
// serve() returns once the root closed the pod. It throws Error when the root refused this rank (the
// message says why), dismissed it, or stopped answering; the rank's Worker is closed either way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "child/callables.hpp"
#include "ipc/codec.hpp"
#include "ipc/shm.hpp"
#include "pod/mpi.hpp"
#include "pod/wire.hpp"
#include "strata/worker.hpp"
#include "trace/recorder.hpp"

namespace strata::pod {

/// The rank's Worker must accept `memory` as task memory and call background() while it waits (the
/// Worker sets that up before serve()).
struct RankSetup {
  Worker* node = nullptr;                 // the Worker this rank runs
  const child::Callables* pod = nullptr;  // the pod's orchestration functions
  Registry registry;                      // what this process registered
  char* memory = nullptr;                 // this rank's copy of the root's pod memory
  size_t buffer_bytes = 0;                // its buffer region, then its heap
  size_t heap_bytes = 0;
  int64_t init_deadline_ns = 0;
  /// When the pod is traced: the rank's Worker must record into `spill` (`bytes` long), its times moved
  /// by `clock_offset_ns` (this host's clock minus rank 0's). Called before its init().
  std::function<void(trace::SpillHeader* spill, size_t bytes, int64_t clock_offset_ns)> trace_into;
  /// Told each task before its orchestration function runs (links the two in the trace).
  std::function<void(uint64_t task)> on_task;
};

class RankServer {
 public:
  explicit RankServer(RankSetup setup);
  ~RankServer();
  void serve();
  /// Called by the rank's Worker while it waits: heartbeats, the root's messages. Never throws.
  void background() noexcept;
  /// For a pod collective waiting on MPI: background(), and throws Error once the rank must stop.
  void keep_up();

 private:
  struct Incoming {
    MessageHeader header;
    std::string payload;
    std::vector<Request> data;  // a task's inputs, arriving
  };
  void welcome();
  /// The offset of this host's clock from rank 0's, by the ping-pong with the smallest round trip.
  int64_t clock_offset();
  bool receive();
  void heartbeat(int64_t now);
  void send(const MessageHeader& h, const void* payload = nullptr, size_t len = 0);
  void run_task(Incoming& in);
  void answer(uint64_t id, uint32_t part, ipc::Status status, ipc::ErrorCode code, int64_t start_ns,
              const std::string& payload, const ipc::DecodedFrame* outputs);
  void drain_sends(int64_t deadline_ns);

  RankSetup s_;
  Mpi& mpi_;
  intptr_t shift_ = 0;  // this rank's copy lies this far from the root's memory
  int64_t heartbeat_ns_ = 0;
  std::vector<int> orch_index_;  // root's orchestration function id -> this process's
  std::deque<Incoming> queue_;
  std::vector<char> inbox_;  // the posted receive of the root's next control message
  Request inbox_req_ = 0;
  struct Outgoing {
    std::string bytes;
    Request req = 0;
  };
  std::deque<Outgoing> outgoing_;
  std::vector<Request> data_out_;
  std::unique_ptr<ipc::DecodedFrame> frame_;
  int64_t last_heard_ns_ = 0;
  int64_t last_sent_ns_ = 0;
  int64_t last_look_ns_ = 0;      // when background() last ran
  int64_t last_pid_look_ns_ = 0;  // when the root's pidfd was last polled
  int root_pidfd_ = -1;
  size_t trace_bytes_ = 0;    // 0: the pod is not traced
  ipc::SharedMapping trace_;  // where the rank's Worker records its trace (shared with its chips)
  std::string stop_;          // set once the rank must stop serving: why ("" while serving)
  std::string refusal_;       // why this rank cannot take part, found in the welcome ("" if it can)
  bool closing_ = false;      // the root closed the pod (a Shutdown without a reason)
  bool running_ = false;      // a task's orchestration function runs
};

}  // namespace strata::pod
