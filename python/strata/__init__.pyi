"""Type stubs of the `strata` package (the pybind11 extension strata._strata and its Python wrappers)."""

import builtins
import enum
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

#: "Any child of the right kind": the task goes to the least loaded one.
ANY_WORKER: int

DTypeLike = Union["DType", npt.DTypeLike]
#: What a task argument may be: a numpy array in strata memory, a domain buffer or a strata.Tensor.
TensorLike = Union[np.ndarray, "DomainBuffer", "Tensor"]
#: What submit and the collective helpers return: the task's id and its tensors.
TaskRef = Dict[str, Any]

class DType(enum.Enum):
    """Element type of a tensor."""

    U8: int
    I8: int
    I16: int
    I32: int
    I64: int
    U32: int
    U64: int
    F16: int
    BF16: int
    F32: int
    F64: int

class ReduceOp(enum.Enum):
    """How a reducing collective combines the ranks' elements."""

    Sum: int
    Max: int
    Min: int
    Avg: int

class Error(RuntimeError):
    """Base of every strata exception."""

class UsageError(Error, ValueError):
    """The API was used wrongly; the message says what to change. Nothing was submitted."""

class TimeoutError(Error, builtins.TimeoutError):
    """A bounded wait ran out; the message names the setting."""

class SystemError(Error):
    """A system call failed; the message carries strerror(errno)."""

class ChildDiedError(Error):
    """A child process of the Worker died; every call fails until respawn() or close()."""

class FailedTask(int):
    """The task a TaskError is about (TaskError.task): an int, the task's id, with its name in `.name`."""

    name: str
    def __new__(cls, task_id: int, name: str) -> "FailedTask": ...
    @property
    def id(self) -> int: ...

class TaskError(Error):
    """run() failed because a task failed."""

    task: FailedTask
    child_kind: str
    child_index: int
    message: str
    exception_type: str
    chain: List[Dict[str, Any]]

class Tensor:
    """A view of memory a task reads or writes (from Orchestrator.alloc)."""

    @property
    def data(self) -> int: ...
    @property
    def shape(self) -> List[int]: ...
    @property
    def dtype(self) -> DType: ...
    def numel(self) -> int: ...
    def nbytes(self) -> int: ...

class BufferSpec:
    """A named buffer to carve from every member's window: count elements."""

    def __init__(self, name: str, dtype: DTypeLike, count: int) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> DType: ...
    @property
    def count(self) -> int: ...

class DomainBuffer:
    """One named buffer in one chip's window: a task argument and a copy_to/copy_from end."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> DType: ...
    @property
    def count(self) -> int: ...
    @property
    def chip(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def data(self) -> int: ...

class ChipContext:
    """One chip's view of a domain."""

    @property
    def domain(self) -> str: ...
    @property
    def chip(self) -> int: ...
    @property
    def device_id(self) -> int: ...
    @property
    def rank(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def device_ctx(self) -> int: ...
    @property
    def window_base(self) -> int: ...
    @property
    def window_size(self) -> int: ...
    @property
    def buffers(self) -> List[DomainBuffer]: ...
    def buffer(self, name: str) -> DomainBuffer:
        """The named buffer; UsageError for an unknown name."""
    def buffer_ptrs(self) -> Dict[str, int]: ...

class LiveDomain:
    """A domain that is live now (Worker.live_domains())."""

    @property
    def name(self) -> str: ...
    @property
    def allocation_id(self) -> int: ...
    @property
    def workers(self) -> List[int]: ...

class Domain:
    """A communication domain; a context manager that releases it on exit. d[chip] is that chip's ChipContext."""

    @property
    def name(self) -> str: ...
    @property
    def allocation_id(self) -> int: ...
    @property
    def workers(self) -> List[int]: ...
    @property
    def size(self) -> int: ...
    @property
    def released(self) -> bool: ...
    def __getitem__(self, chip: int) -> ChipContext: ...
    def release(self) -> None: ...
    def __enter__(self) -> "Domain": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Scope:
    """A lifetime scope for heap allocations; a context manager closing it on exit."""

    def close(self) -> None: ...
    def __enter__(self) -> "Scope": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Kernel:
    """A kernel registered with a Worker (runs on chips)."""

    @property
    def id(self) -> int: ...

class HostFn:
    """A host callable registered with a Worker (runs in a sub process)."""

    @property
    def id(self) -> int: ...

class OrchFn:
    """An orchestration function registered with a pod (runs in its child Workers)."""

    @property
    def id(self) -> int: ...

class TaskArgs:
    """Arguments of one task: tagged tensors and 64-bit scalars, in the order the callable reads them."""

    def __init__(self) -> None: ...
    def input(self, x: TensorLike) -> "TaskArgs": ...
    def output(self, x: TensorLike) -> "TaskArgs": ...
    def inout(self, x: TensorLike) -> "TaskArgs": ...
    def output_existing(self, x: TensorLike) -> "TaskArgs": ...
    def no_dep(self, x: TensorLike) -> "TaskArgs": ...
    def scalar(self, value: Any, dtype: Optional[DTypeLike] = None) -> "TaskArgs":
        """Appends a scalar: int -> i64 and float -> f32 unless dtype says otherwise."""
    @property
    def tensor_count(self) -> int: ...
    @property
    def scalar_count(self) -> int: ...

class TaskContext:
    """What a host callable or a Python kernel is given: the task's tensors and scalars, and for a kernel
    its block and part (valid during the call only)."""

    @property
    def task_id(self) -> int: ...
    @property
    def worker_index(self) -> int: ...
    @property
    def tensor_count(self) -> int: ...
    @property
    def scalar_count(self) -> int: ...
    @property
    def block_idx(self) -> int: ...
    @property
    def block_dim(self) -> int: ...
    @property
    def part(self) -> int: ...
    @property
    def parts(self) -> int: ...
    def tensor(self, i: int) -> np.ndarray:
        """The i-th tensor as a numpy view of its memory (valid during the call)."""
    def scalar(self, i: int, dtype: DTypeLike = ...) -> Any:
        """The i-th scalar read as dtype (default int64)."""

class Orchestrator:
    """Builds the graph of one run; valid only inside that run()."""

    def submit(self, kernel: Union[Kernel, OrchFn], args: TaskArgs, worker: int = ..., block_dim: int = 1,
               timeout: Optional[float] = None) -> TaskRef:
        """A kernel task on a chip (worker -1: any), or in a pod an orchestration function on child Worker
        `worker`; timeout in seconds."""
    def submit_host(self, fn: HostFn, args: TaskArgs, worker: int = ..., block_dim: int = 1,
                    timeout: Optional[float] = None) -> TaskRef:
        """A host callable task on a sub process."""
    def submit_group(self, kernel: Kernel, args: Sequence[TaskArgs], workers: Sequence[int], block_dim: int = 1,
                     timeout: Optional[float] = None) -> TaskRef:
        """One task made of one part per worker, started together."""
    def alloc(self, shape: Sequence[int], dtype: DTypeLike) -> Tensor:
        """A tensor from the run heap, freed when its scope closes and its tasks have finished."""
    def scope(self) -> Scope:
        """A nested lifetime scope (a context manager)."""
    def allocate_domain(self, name: str, workers: Sequence[int], window_size: int,
                        buffers: Sequence[BufferSpec] = ...) -> Domain:
        """A communication domain over the chips `workers` (rank = position)."""
    def copy_to(self, dst: DomainBuffer, src: np.ndarray) -> None:
        """Copies a numpy array into a chip's domain buffer (the same byte count)."""
    def copy_from(self, dst: np.ndarray, src: DomainBuffer) -> None:
        """Copies a chip's domain buffer into a numpy array (the same byte count)."""
    def allreduce(self, domain: Domain, buffer: str, op: ReduceOp = ..., block_dim: int = 1) -> TaskRef: ...
    def reduce_scatter(self, domain: Domain, send: str, recv: str, op: ReduceOp = ...,
                       block_dim: int = 1) -> TaskRef: ...
    def broadcast(self, domain: Domain, buffer: str, root: int, block_dim: int = 1) -> TaskRef: ...
    def allgather(self, domain: Domain, buffer: str, block_dim: int = 1) -> TaskRef: ...
    def alltoall(self, domain: Domain, send: str, recv: str, block_dim: int = 1) -> TaskRef: ...
    @property
    def chip_count(self) -> int: ...
    @property
    def sub_count(self) -> int: ...

class Timeouts:
    """Bounded waits of a Worker, in milliseconds; 0 takes the default (see `strata info`)."""

    submit: int
    init: int
    close: int
    comm: int
    stall_warn: int
    stall: int
    def __init__(self, submit: int = 0, init: int = 0, close: int = 0, comm: int = 0, stall_warn: int = 0,
                 stall: int = 0) -> None: ...

class ChipBringup:
    """One chip's bring-up at init(): its rank, window, buffers, inputs copied in, outputs copied out."""

    rank: int
    window_size: int
    buffers: Sequence[BufferSpec]
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    def __init__(self, rank: int, window_size: int, buffers: Sequence[BufferSpec] = (),
                 inputs: Mapping[str, Any] = ..., outputs: Mapping[str, Any] = ...) -> None: ...

class Worker:
    """A node (level 3): chips and sub processes forked by init(); or a pod (level >= 4) whose children are
    Workers of level - 1 (add_worker). A context manager: close() on exit."""

    def __init__(self, chips: int = 0, sub_workers: int = 0, level: int = 3, device_ids: Optional[Sequence[int]] = None,
                 fail_fast: bool = True, trace_path: str = "",
                 timeouts: Union[None, Timeouts, Mapping[str, int]] = None,
                 heap_bytes: int = 0, buffer_bytes: int = 0, task_ring: int = 0, backend: str = "",
                 backend_options: str = "", chip_threads: int = 0, allow_threads: bool = False,
                 bringup: Optional[Sequence[Union[ChipBringup, Mapping[str, Any]]]] = None) -> None: ...
    def add_worker(self, **options: Any) -> "Worker": ...
    def register_kernel(self, kernel: Union[str, Callable[[TaskContext], Any]], library: Optional[str] = None,
                        name: Optional[str] = None) -> Kernel:
        """A kernel by name (linked into libstrata, or from the shared library `library`), or a Python
        callable fn(ctx) run once per block in the chip processes (sim backend)."""
    def register_host(self, fn: Callable[[TaskContext], Any], name: Optional[str] = None) -> HostFn: ...
    def register_orch(self, fn: Callable[..., Any], name: Optional[str] = None) -> OrchFn: ...
    def init(self) -> None: ...
    def respawn(self) -> None: ...
    def run(self, fn: Callable[[Orchestrator], Any]) -> None: ...
    def close(self) -> None: ...
    def create_buffer(self, shape: Sequence[int], dtype: DTypeLike) -> np.ndarray: ...
    def live_domains(self) -> List[LiveDomain]: ...
    def chip_contexts(self) -> List[ChipContext]: ...
    def store_outputs(self) -> None: ...
    def status(self) -> Dict[str, Any]: ...
    def status_text(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def initialized(self) -> bool: ...
    @property
    def level(self) -> int: ...
    @property
    def chip_count(self) -> int: ...
    @property
    def sub_count(self) -> int: ...
    @property
    def worker_count(self) -> int: ...
    def __enter__(self) -> "Worker": ...
    def __exit__(self, *exc: Any) -> bool: ...

__all__: List[str]
