// pod/mpi.hpp — the only door to MPI: a pod's communicator and the few calls a pod makes, all
// non-blocking so that no wait of strata can hang on a rank that died.
//
// The process initialises MPI through here (MPI_THREAD_FUNNELED: only the thread that owns the pod ever
// calls MPI) unless the program did; strata then finalises it at exit. The pod talks on its own
// duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so a failing call returns an error instead of
// aborting the job. Open MPI cannot report a dead peer on most transports: a send to it may complete
// and a receive from it never does, so every wait here is bounded by the caller's deadline and the pod
// notices deaths by heartbeats (pod/root_link.hpp).
//
// Joining also ignores SIGPIPE when the program left it at its default (over TCP a send to a dead rank
// raises it). Used by one thread per process; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::pod {

/// An MPI request (MPI_Request), opaque to everything but mpi.cpp.
using Request = uintptr_t;

class Mpi {
 public:
  /// Joins MPI (initialising it if the program has not), duplicates MPI_COMM_WORLD. Throws Error if MPI
  /// is unavailable.
  static Mpi& get();

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  /// This host's name (MPI_Get_processor_name).
  const std::string& host() const noexcept { return host_; }

  /// Starts sending `bytes` at `data` to `dest` with `tag`; `data` must stay valid until done.
  Request isend(const void* data, size_t bytes, int dest, int tag);
  /// Starts receiving `bytes` into `data` from `source` with `tag`.
  Request irecv(void* data, size_t bytes, int source, int tag);
  /// True once `*r` completed (it is then freed and reset to 0); a receive's size in `*bytes`. Throws
  /// Error if it failed.
  bool test(Request* r, size_t* bytes = nullptr);
  /// If a message with `tag` from `source` is waiting: its size.
  bool probe(int source, int tag, size_t* bytes);
  /// Receives the message probe() found (it has arrived or is arriving: completes promptly).
  void recv_probed(void* data, size_t bytes, int source, int tag);

  /// Starts an allreduce of `count` elements of `dtype` (strata::DType as int) with `op` (strata::ReduceOp
  /// as int; Avg is a Sum the caller divides) over the ranks in `group`.
  Request iallreduce(void* data, size_t count, int dtype, int op, int group);
  /// Starts a broadcast of `bytes` from group rank `root` over `group`.
  Request ibcast(void* data, size_t bytes, int root, int group);
  /// Starts an allgather of `bytes` from each member of `group` into `out` (size * bytes).
  Request iallgather(const void* data, size_t bytes, void* out, int group);
  /// Group 0: every rank; group 1: every rank but 0 (a pod's Workers). This rank's place in it.
  int group_rank(int group) const noexcept;
  int group_size(int group) const noexcept;
  /// Whether MPI can reduce `dtype` with `op` here (f32, f64, i32, i64).
  static bool reducible(int dtype) noexcept;

  /// The job lost a rank: MPI_Finalize would wait for it forever (Open MPI 4 fences with every rank), so
  /// the process leaves without it. Called by whoever learns of a death.
  static void mark_broken() noexcept;
  static bool broken() noexcept;

  /// Threads MPI started in this process (0 before a pod joined MPI). When the program initialised MPI
  /// itself, every thread but the caller at that moment counts as MPI's.
  static int threads_started() noexcept;

  /// Withdraws a receive that will not be waited for: cancels it. A receive whose data already started to
  /// arrive cannot be cancelled and will write into its buffer: pass the buffer's owner in `keep`, and it is
  /// kept (for the life of the process) instead of freed.
  void withdraw_recv(Request* r, std::vector<char>* keep = nullptr) noexcept;
  /// Abandons a send (or collective) that will not be waited for: its peer is gone, or the pod is closing.
  /// One still under way may read its buffer later: pass the buffer's owner in `keep`, and it is kept for
  /// the life of the process; a send from strata memory is left as it is.
  void abandon(Request* r, std::string* keep = nullptr) noexcept;

 private:
  Mpi();
  int rank_ = 0;
  int size_ = 1;
  std::string host_;
};

}  // namespace strata::pod
