// pod/mpi.cpp — the MPI calls of a pod (see mpi.hpp). The only file that includes <mpi.h>.
#include "pod/mpi.hpp"

// The C API only (Open MPI would pull in its deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "ipc/process.hpp"
#include "strata/errors.hpp"
#include "strata/types.hpp"

namespace strata::pod {
namespace {

MPI_Comm g_world = MPI_COMM_NULL;    // the pod's duplicate of MPI_COMM_WORLD
MPI_Comm g_workers = MPI_COMM_NULL;  // every rank but 0 (MPI_COMM_NULL on rank 0)
int g_threads_started = 0;
bool g_broken = false;

[[noreturn]] void fail(const char* what, int rc) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

void check(const char* what, int rc) {
  if (rc != MPI_SUCCESS) fail(what, rc);
}

MPI_Comm comm_of(int group) { return group == 0 ? g_world : g_workers; }

MPI_Request* req(Request* r) { return reinterpret_cast<MPI_Request*>(r); }

MPI_Datatype mpi_type(int dtype) {
  switch (static_cast<DType>(dtype)) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::F64:
      return MPI_DOUBLE;
    case DType::I32:
      return MPI_INT32_T;
    case DType::I64:
      return MPI_INT64_T;
    default:
      return MPI_DATATYPE_NULL;
  }
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || g_broken) return;
  if (g_workers != MPI_COMM_NULL) MPI_Comm_free(&g_workers);
  if (g_world != MPI_COMM_NULL) MPI_Comm_free(&g_world);
  MPI_Finalize();
}

// Sends and receives of a pod are byte arrays; messages larger than INT_MAX bytes are split by callers.
int count_of(size_t bytes) {
  if (bytes > static_cast<size_t>(INT32_MAX)) throw Error("MPI: a message of more than 2 GiB (split it)");
  return static_cast<int>(bytes);
}

}  // namespace

static_assert(sizeof(MPI_Request) <= sizeof(Request), "an MPI_Request must fit a pod::Request");

Mpi::Mpi() {
  int initialised = 0;
  check("MPI_Initialized", MPI_Initialized(&initialised));
  if (!initialised) {
    const int before = ipc::process_thread_count();
    int provided = 0;
    check("MPI_Init_thread", MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
    g_threads_started = std::max(0, ipc::process_thread_count() - before);
    std::atexit(finalize_at_exit);
  } else {
    // The program initialised MPI: the threads there are now are taken to be MPI's.
    g_threads_started = std::max(0, ipc::process_thread_count() - 1);
  }
  // Over TCP, a send to a rank that died raises SIGPIPE, whose default action would kill this process
  // before it could say which rank died: ignore it, unless the program handles it already.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  check("MPI_Comm_dup", MPI_Comm_dup(MPI_COMM_WORLD, &g_world));
  check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(g_world, MPI_ERRORS_RETURN));
  MPI_Comm_rank(g_world, &rank_);
  MPI_Comm_size(g_world, &size_);
  // Collective over every rank, once, when the pod starts (every rank is known to be there).
  check("MPI_Comm_split", MPI_Comm_split(g_world, rank_ == 0 ? MPI_UNDEFINED : 1, rank_, &g_workers));
  if (g_workers != MPI_COMM_NULL) MPI_Comm_set_errhandler(g_workers, MPI_ERRORS_RETURN);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, static_cast<size_t>(len));
}

Mpi& Mpi::get() {
  static Mpi mpi;
  return mpi;
}

Request Mpi::isend(const void* data, size_t bytes, int dest, int tag) {
  Request r = 0;
  check("MPI_Isend", MPI_Isend(data, count_of(bytes), MPI_BYTE, dest, tag, g_world, req(&r)));
  return r;
}

Request Mpi::irecv(void* data, size_t bytes, int source, int tag) {
  Request r = 0;
  check("MPI_Irecv", MPI_Irecv(data, count_of(bytes), MPI_BYTE, source, tag, g_world, req(&r)));
  return r;
}

bool Mpi::test(Request* r, size_t* bytes) {
  if (*r == 0) return true;
  int done = 0;
  MPI_Status st;
  check("MPI_Test", MPI_Test(req(r), &done, bytes ? &st : MPI_STATUS_IGNORE));
  if (!done) return false;
  *r = 0;
  if (bytes) {
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    *bytes = static_cast<size_t>(count);
  }
  return true;
}

bool Mpi::probe(int source, int tag, size_t* bytes) {
  int flag = 0;
  MPI_Status st;
  check("MPI_Iprobe", MPI_Iprobe(source, tag, g_world, &flag, &st));
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  *bytes = static_cast<size_t>(count);
  return true;
}

void Mpi::recv_probed(void* data, size_t bytes, int source, int tag) {
  check("MPI_Recv", MPI_Recv(data, count_of(bytes), MPI_BYTE, source, tag, g_world, MPI_STATUS_IGNORE));
}

Request Mpi::iallreduce(void* data, size_t count, int dtype, int op, int group) {
  MPI_Op mop = MPI_SUM;
  switch (static_cast<ReduceOp>(op)) {
    case ReduceOp::Max:
      mop = MPI_MAX;
      break;
    case ReduceOp::Min:
      mop = MPI_MIN;
      break;
    default:
      break;
  }
  Request r = 0;
  check("MPI_Iallreduce",
        MPI_Iallreduce(MPI_IN_PLACE, data, count_of(count), mpi_type(dtype), mop, comm_of(group), req(&r)));
  return r;
}

Request Mpi::ibcast(void* data, size_t bytes, int root, int group) {
  Request r = 0;
  check("MPI_Ibcast", MPI_Ibcast(data, count_of(bytes), MPI_BYTE, root, comm_of(group), req(&r)));
  return r;
}

Request Mpi::iallgather(const void* data, size_t bytes, void* out, int group) {
  Request r = 0;
  check("MPI_Iallgather",
        MPI_Iallgather(data, count_of(bytes), MPI_BYTE, out, count_of(bytes), MPI_BYTE, comm_of(group), req(&r)));
  return r;
}

int Mpi::group_rank(int group) const noexcept {
  if (group == 0) return rank_;
  if (g_workers == MPI_COMM_NULL) return -1;
  int r = -1;
  MPI_Comm_rank(g_workers, &r);
  return r;
}

int Mpi::group_size(int group) const noexcept { return group == 0 ? size_ : size_ - 1; }

void Mpi::mark_broken() noexcept { g_broken = true; }
bool Mpi::broken() noexcept { return g_broken; }

int Mpi::threads_started() noexcept { return g_threads_started; }

bool Mpi::reducible(int dtype) noexcept { return mpi_type(dtype) != MPI_DATATYPE_NULL; }

namespace {
// Buffers of requests that were abandoned while MPI might still touch them.
std::vector<std::vector<char>>& kept_buffers() {
  static auto* kept = new std::vector<std::vector<char>>;  // never freed: MPI may write into them at exit
  return *kept;
}
std::vector<std::string>& kept_strings() {
  static auto* kept = new std::vector<std::string>;
  return *kept;
}
}  // namespace

void Mpi::withdraw_recv(Request* r, std::vector<char>* keep) noexcept {
  if (*r == 0) return;
  MPI_Cancel(req(r));
  // A receive nothing matched yet is cancelled at once; one being filled completes when its data is in.
  for (int i = 0; i < 1000; ++i) {
    int done = 0;
    MPI_Test(req(r), &done, MPI_STATUS_IGNORE);
    if (done) {
      *r = 0;
      return;
    }
  }
  MPI_Request_free(req(r));
  *r = 0;
  if (keep) kept_buffers().push_back(std::move(*keep));
}

void Mpi::abandon(Request* r, std::string* keep) noexcept {
  if (*r == 0) return;
  int done = 0;
  MPI_Test(req(r), &done, MPI_STATUS_IGNORE);
  if (done) {
    *r = 0;
    return;
  }
  MPI_Request_free(req(r));
  *r = 0;
  if (keep) kept_strings().push_back(std::move(*keep));
}

}  // namespace strata::pod
