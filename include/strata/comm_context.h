/* strata/comm_context.h — the CommContext ABI shared by host code and kernels (C and C++).
 *
 * A kernel reaches a communication domain through one pointer passed as a scalar: the address, in the
 * chip's own address space, of a strata_comm_context. windows[r] is rank r's window as addressable from
 * THIS chip; each window is `window_size` bytes for named buffers (carved in declaration order from
 * offset 0), followed by STRATA_COMM_SIGNAL_BYTES of signal slots that the kernel toolkit uses for
 * flags and barriers (comm_kernel.hpp). `workspace` is this rank's own signal area
 * (windows[rank] + window_size) and `workspace_size` its size. Every window is zeroed before any peer
 * can reach it.
 *
 * `abort_flag` is the address of a 32-bit word in host memory that strata sets (non-zero: the lost chip's
 * index + 1) when a member of the domain dies or is declared lost; every wait of the kernel toolkit
 * checks it, so kernels blocked on a dead peer fail instead of waiting for their timeout. `buffers` points at `nbuffers` entries
 * describing this rank's named buffers in declaration order.
 *
 * The backend writes the context and the buffer table into the chip's memory when the domain is
 * committed. The layout is pinned by the static assertions below and by a test.
 */
#ifndef STRATA_COMM_CONTEXT_H
#define STRATA_COMM_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#define STRATA_COMM_MAX_RANKS 64
/* Signal area after each window: STRATA_COMM_SIGNAL_SLOTS slots of 64 bytes (one cache line each). */
#define STRATA_COMM_SIGNAL_SLOTS 64
#define STRATA_COMM_SIGNAL_BYTES (STRATA_COMM_SIGNAL_SLOTS * 64)

/* One named buffer of a rank's window. */
typedef struct strata_comm_buffer {
  uint64_t addr;  /* in this chip's address space */
  uint64_t bytes; /* count x element size */
} strata_comm_buffer;

typedef struct strata_comm_context {
  uint64_t workspace, workspace_size;
  uint32_t rank, size; /* this chip's dense rank in the domain, and the member count */
  uint64_t window_size;
  uint64_t windows[STRATA_COMM_MAX_RANKS]; /* windows[r]: rank r's window, as addressable from THIS chip */
  uint64_t abort_flag;                     /* address of a uint32_t: non-zero once the domain is aborted */
  uint64_t buffers;                        /* address of `nbuffers` strata_comm_buffer entries */
  uint32_t nbuffers, reserved;
} strata_comm_context;

#ifdef __cplusplus
static_assert(offsetof(strata_comm_context, workspace) == 0, "CommContext ABI");
static_assert(offsetof(strata_comm_context, workspace_size) == 8, "CommContext ABI");
static_assert(offsetof(strata_comm_context, rank) == 16, "CommContext ABI");
static_assert(offsetof(strata_comm_context, size) == 20, "CommContext ABI");
static_assert(offsetof(strata_comm_context, window_size) == 24, "CommContext ABI");
static_assert(offsetof(strata_comm_context, windows) == 32, "CommContext ABI");
static_assert(offsetof(strata_comm_context, abort_flag) == 32 + 8 * STRATA_COMM_MAX_RANKS, "CommContext ABI");
static_assert(offsetof(strata_comm_context, buffers) == 40 + 8 * STRATA_COMM_MAX_RANKS, "CommContext ABI");
static_assert(offsetof(strata_comm_context, nbuffers) == 48 + 8 * STRATA_COMM_MAX_RANKS, "CommContext ABI");
static_assert(sizeof(strata_comm_context) == 56 + 8 * STRATA_COMM_MAX_RANKS, "CommContext ABI");
static_assert(sizeof(strata_comm_buffer) == 16, "CommContext ABI");
namespace strata {
using CommContext = ::strata_comm_context;
}
#else
_Static_assert(offsetof(strata_comm_context, windows) == 32, "CommContext ABI");
_Static_assert(sizeof(strata_comm_context) == 56 + 8 * STRATA_COMM_MAX_RANKS, "CommContext ABI");
#endif

#endif /* STRATA_COMM_CONTEXT_H */
