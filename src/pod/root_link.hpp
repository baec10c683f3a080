// pod/root_link.hpp — the root of a pod over MPI: its ranks as the supervisor's remote children.
//
// Each rank is a Worker child of the root whose channel lives in the root's own memory. The root's
// progress loop pumps this link (the only code of the root that calls MPI): it reads the frames the
// scheduler posted to a rank, holds each until the producers it names are done on the root's status
// board, then sends it with the contents of its INPUT and INOUT tensors; it receives the rank's answer
// with the contents of its OUTPUT, OUTPUT_EXISTING and INOUT tensors straight into the root's memory,
// marks the board and posts the completion into the channel, as a forked child would. The scheduler
// cannot tell a rank from a local process.
//
// A rank is gone when its process on this host exits (a pidfd, when it runs here) or when it has been
// silent for the heartbeat deadline; the supervisor then fails what it owed, naming the rank.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipc/board.hpp"
#include "ipc/channel.hpp"
#include "ipc/codec.hpp"
#include "pod/mpi.hpp"
#include "pod/wire.hpp"
#include "supervisor/supervisor.hpp"
#include "trace/recorder.hpp"

namespace strata::pod {

class RootLink final : public supervisor::Remote {
 public:
  /// `base`/`bytes`: the root's pod memory (every tensor a task names lies in it). `trace_bytes`: 0, or
  /// the room each rank has to record its part of the pod's trace.
  RootLink(supervisor::Supervisor& sup, ipc::Board* board, const void* base, size_t buffer_bytes, size_t heap_bytes,
           int64_t heartbeat_ns, size_t trace_bytes);
  ~RootLink() override;

  /// Greets every rank: checks each registered what `mine` lists (else throws UsageError naming the rank
  /// and the name, after telling every rank why) and sends the pod's settings. Throws TimeoutError naming
  /// the ranks that did not say hello by `deadline_ns`.
  void handshake(const Registry& mine, int64_t deadline_ns);
  /// Ranks of the pod's children: 1..size-1.
  static std::vector<int> ranks();
  /// Starts the link for child `c` (after Supervisor::start_remote).
  void start(supervisor::Child& c);
  /// The process of `rank` on its host, as it said in its hello.
  int pid_of(int rank) const noexcept {
    return rank >= 1 && rank <= static_cast<int>(ranks_.size()) ? ranks_[static_cast<size_t>(rank - 1)].pid : 0;
  }

  /// The trace rank `worker_index + 1` sent when the pod closed (to merge into the pod's), or a header
  /// without its magic when there is none (the rank died, or it did not arrive whole).
  const trace::SpillHeader* trace_of(int worker_index) const noexcept;

  bool pump() override;
  int64_t nap_ns() const noexcept override;
  void dismiss(supervisor::Child& c, const std::string& why) noexcept override;
  void shutdown(int64_t timeout_ns) noexcept override;

 private:
  struct Outgoing {
    std::string bytes;  // a control message (kept until sent)
    Request req = 0;
  };
  struct Sent {
    uint64_t id = 0;
    bool task = false;
    std::vector<unsigned char> frame;  // a task's frame (its OUTPUT tensors come back)
  };
  struct Rank {
    supervisor::Child* child = nullptr;
    std::optional<ipc::ChannelChild> end;           // the child's end of its channel, played here
    std::deque<std::vector<unsigned char>> queued;  // frames read, waiting for their producers
    std::deque<Sent> sent;                          // sent, not yet answered (in order)
    std::vector<Request> data;                      // data sends in flight
    // Receiving an answer's data.
    bool receiving = false;
    MessageHeader answer;
    std::string answer_payload;
    std::vector<Request> incoming;
    std::vector<char> inbox;  // the posted receive of its next control message
    Request inbox_req = 0;
    std::vector<char> trace;  // its trace (a spill region), sent after its Bye
    Request trace_req = 0;
    int64_t last_heard_ns = 0;
    int64_t last_sent_ns = 0;
    pid_t pid = 0;
    int pidfd = -1;
    bool live = false;  // started and not dismissed
    bool bye = false;
  };

  bool receive();
  bool handle(int source, const MessageHeader& h, std::string payload);
  bool forward(Rank& r);
  bool send_frame(Rank& r, std::vector<unsigned char> frame);
  void finish_answer(Rank& r);
  void send(Rank& r, const MessageHeader& h, const void* payload = nullptr, size_t len = 0);
  void check_alive(int64_t now);
  void lose(Rank& r, const std::string& how);
  /// Withdraws every request of `r` (its buffers are kept if MPI may still use them).
  void release(Rank& r) noexcept;
  void release_outgoing() noexcept;
  Rank* rank_of(int source) noexcept;

  supervisor::Supervisor& sup_;
  ipc::Board* board_;
  Mpi& mpi_;
  const char* base_;
  size_t bytes_;
  size_t buffer_bytes_;
  size_t heap_bytes_;
  int64_t heartbeat_ns_;
  size_t trace_bytes_;
  std::vector<Rank> ranks_;  // index: rank - 1
  std::unique_ptr<ipc::DecodedFrame> decoded_;
  std::deque<Outgoing> outgoing_;
  int64_t last_check_ns_ = 0;
  uint32_t idle_pumps_ = 0;
};

}  // namespace strata::pod
