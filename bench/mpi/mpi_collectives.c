// MPI peer of `strata bench allgather|reducescatter|broadcast|alltoall`: median time of MPI_Allgather,
// MPI_Reduce_scatter_block (float sum), MPI_Bcast (from rank 0) and MPI_Alltoall on one node at 1 MiB and
// 16 MiB, printed as
//   mpi_allgather ranks=N bytes=B median_us=T busbw_GBps=X ok=1
//   mpi_reduce_scatter ranks=N bytes=B median_us=T busbw_GBps=X ok=1
//   mpi_bcast ranks=N bytes=B median_us=T busbw_GBps=X ok=1
//   mpi_alltoall ranks=N bytes=B median_us=T busbw_GBps=X ok=1
// B is the whole buffer (allgather: what every rank ends with; reduce-scatter: every rank's input;
// broadcast: the buffer; alltoall: every rank's send buffer), and busbw = B / T * (N - 1) / N as in
// nccl-tests (broadcast: B / T). Built and run by scripts/bench.sh (mpicc, mpirun); each measurement is
// the slowest rank's time, median of the iterations, like shared/peers' allreduce.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double median_of(double* t, int iters) {
  qsort(t, (size_t)iters, sizeof(double), cmp);
  return t[iters / 2];
}

/// One timed call of a collective: barrier, the call, the slowest rank's time.
#define TIMED(call)                                                  \
  do {                                                               \
    MPI_Barrier(MPI_COMM_WORLD);                                     \
    const double t0_ = MPI_Wtime();                                  \
    call;                                                            \
    double d_ = MPI_Wtime() - t0_, m_;                               \
    MPI_Allreduce(&d_, &m_, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD); \
    t[i] = m_;                                                       \
  } while (0)

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int r, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  const size_t sizes[] = {1 << 20, 16 << 20};
  for (int s = 0; s < 2; s++) {
    const size_t bytes = sizes[s], cnt = bytes / 4, part = cnt / (size_t)n;
    float* a = malloc(bytes);
    float* b = malloc(bytes);
    const int iters = bytes >= (16 << 20) ? 10 : 30;
    double* t = malloc(sizeof(double) * (size_t)iters);
    for (size_t i = 0; i < cnt; i++) a[i] = (float)(r + 1);
    // Allgather: each rank contributes `part` floats.
    MPI_Allgather(a, (int)part, MPI_FLOAT, b, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
    for (int i = 0; i < iters; i++) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      MPI_Allgather(a, (int)part, MPI_FLOAT, b, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
      double d = MPI_Wtime() - t0, m;
      MPI_Allreduce(&d, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      t[i] = m;
    }
    double med = median_of(t, iters);
    int ok = b[0] == 1.0f && b[part * (size_t)n - 1] == (float)n;
    if (r == 0)
      printf("mpi_allgather ranks=%d bytes=%zu median_us=%.1f busbw_GBps=%.3f ok=%d\n", n, bytes, med * 1e6,
             (double)(n - 1) / n * (double)bytes / med / 1e9, ok);
    // Reduce-scatter: every rank's input is the whole buffer; each receives `part` summed floats.
    MPI_Reduce_scatter_block(a, b, (int)part, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < iters; i++) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      MPI_Reduce_scatter_block(a, b, (int)part, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double d = MPI_Wtime() - t0, m;
      MPI_Allreduce(&d, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      t[i] = m;
    }
    med = median_of(t, iters);
    ok = b[0] == (float)n * (n + 1) / 2.0f;
    if (r == 0)
      printf("mpi_reduce_scatter ranks=%d bytes=%zu median_us=%.1f busbw_GBps=%.3f ok=%d\n", n, bytes, med * 1e6,
             (double)(n - 1) / n * (double)bytes / med / 1e9, ok);
    // Broadcast from rank 0: the whole buffer.
    for (size_t i = 0; i < cnt; i++) b[i] = (float)(r + 1);
    MPI_Bcast(b, (int)cnt, MPI_FLOAT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < iters; i++) TIMED(MPI_Bcast(b, (int)cnt, MPI_FLOAT, 0, MPI_COMM_WORLD));
    med = median_of(t, iters);
    ok = b[0] == 1.0f && b[cnt - 1] == 1.0f;
    if (r == 0)
      printf("mpi_bcast ranks=%d bytes=%zu median_us=%.1f busbw_GBps=%.3f ok=%d\n", n, bytes, med * 1e6,
             (double)bytes / med / 1e9, ok);
    // Alltoall: chunk p of every rank's send buffer to rank p.
    for (size_t i = 0; i < cnt; i++) a[i] = (float)(r * n + (int)(i / part));
    MPI_Alltoall(a, (int)part, MPI_FLOAT, b, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
    for (int i = 0; i < iters; i++)
      TIMED(MPI_Alltoall(a, (int)part, MPI_FLOAT, b, (int)part, MPI_FLOAT, MPI_COMM_WORLD));
    med = median_of(t, iters);
    ok = b[0] == (float)r && b[part * (size_t)(n - 1)] == (float)((n - 1) * n + r);
    if (r == 0)
      printf("mpi_alltoall ranks=%d bytes=%zu median_us=%.1f busbw_GBps=%.3f ok=%d\n", n, bytes, med * 1e6,
             (double)(n - 1) / n * (double)bytes / med / 1e9, ok);
    free(a);
    free(b);
    free(t);
  }
  MPI_Finalize();
  return 0;
}
