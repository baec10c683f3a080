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
    def id(self) -> int:
        """The task's id (the int's value)."""

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
    def data(self) -> int:
        """The address of the first element, as an int (dependencies are tracked per this address)."""
    @property
    def shape(self) -> List[int]:
        """The dimensions, as a list of ints (empty for a scalar tensor)."""
    @property
    def dtype(self) -> DType:
        """The element type, a strata.DType."""
    def numel(self) -> int:
        """The number of elements: the product of the shape (1 for a scalar tensor)."""
    def nbytes(self) -> int:
        """The size in bytes: numel() times the element size."""

class BufferSpec:
    """A named buffer to carve from every member's window: count elements."""

    def __init__(self, name: str, dtype: DTypeLike, count: int) -> None: ...
    @property
    def name(self) -> str:
        """The buffer's name, unique within its domain."""
    @property
    def dtype(self) -> DType:
        """The element type, a strata.DType."""
    @property
    def count(self) -> int:
        """The number of elements (not bytes)."""

class DomainBuffer:
    """One named buffer in one chip's window: a task argument and a copy_to/copy_from end."""

    @property
    def name(self) -> str:
        """The buffer's name (from its BufferSpec)."""
    @property
    def dtype(self) -> DType:
        """The element type, a strata.DType."""
    @property
    def count(self) -> int:
        """The number of elements (not bytes)."""
    @property
    def chip(self) -> int:
        """The index of the chip whose window holds it."""
    @property
    def nbytes(self) -> int:
        """The size in bytes: count times the element size."""
    @property
    def data(self) -> int:
        """Its address in the chip's address space, as an int."""

class ChipContext:
    """One chip's view of a domain."""

    @property
    def domain(self) -> str:
        """The domain's name; "" for the bring-up domain."""
    @property
    def chip(self) -> int:
        """The chip's index in the Worker."""
    @property
    def device_id(self) -> int:
        """The chip's device id."""
    @property
    def rank(self) -> int:
        """This chip's position among the domain's members (0..size-1)."""
    @property
    def size(self) -> int:
        """The number of members of the domain."""
    @property
    def device_ctx(self) -> int:
        """The address of this chip's CommContext in its address space: pass it to a kernel as a scalar."""
    @property
    def window_base(self) -> int:
        """The address where this chip's window starts (chip address space)."""
    @property
    def window_size(self) -> int:
        """The window's bytes usable for buffers (at least the size asked for)."""
    @property
    def buffers(self) -> List[DomainBuffer]:
        """The named buffers (DomainBuffer), in declaration order."""
    def buffer(self, name: str) -> DomainBuffer:
        """The named buffer; UsageError for an unknown name."""
    def buffer_ptrs(self) -> Dict[str, int]:
        """A dict: every buffer's name -> its address on this chip (an int)."""

class LiveDomain:
    """A domain that is live now (Worker.live_domains())."""

    @property
    def name(self) -> str:
        """The domain's name."""
    @property
    def allocation_id(self) -> int:
        """Its allocation id: growing per Worker, never reused."""
    @property
    def workers(self) -> List[int]:
        """The member chips: workers[r] is the chip of rank r."""

class Domain:
    """A communication domain; a context manager that releases it on exit. d[chip] is that chip's ChipContext."""

    @property
    def name(self) -> str:
        """The domain's name, unique among live domains."""
    @property
    def allocation_id(self) -> int:
        """Its allocation id: growing per Worker, never reused (failed attempts take one too)."""
    @property
    def workers(self) -> List[int]:
        """The member chips: workers[r] is the chip of rank r."""
    @property
    def size(self) -> int:
        """The number of members."""
    @property
    def released(self) -> bool:
        """True once release() has run."""
    def __getitem__(self, chip: int) -> ChipContext: ...
    def release(self) -> None:
        """Marks the domain released (idempotent); its memory is freed after the run's drain."""
    def __enter__(self) -> "Domain": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Scope:
    """A lifetime scope for heap allocations; a context manager closing it on exit."""

    def close(self) -> None:
        """Closes the scope: its heap memory is reused once every task submitted so far has finished."""
    def __enter__(self) -> "Scope": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Kernel:
    """A kernel registered with a Worker (runs on chips)."""

    @property
    def id(self) -> int:
        """The kernel's id in its Worker."""

class HostFn:
    """A host callable registered with a Worker (runs in a sub process)."""

    @property
    def id(self) -> int:
        """The host callable's id in its Worker."""

class OrchFn:
    """An orchestration function registered with a pod (runs in its child Workers)."""

    @property
    def id(self) -> int:
        """The orchestration function's id in its pod."""

class TaskArgs:
    """Arguments of one task: tagged tensors and 64-bit scalars, in the order the callable reads them."""

    def __init__(self) -> None: ...
    def input(self, x: TensorLike) -> "TaskArgs":
        """Appends x read by the task (waits for its last writer); returns self."""
    def output(self, x: TensorLike) -> "TaskArgs":
        """Appends x written by the task (waits for its last writer and readers); returns self."""
    def inout(self, x: TensorLike) -> "TaskArgs":
        """Appends x read and written by the task (waits for its last writer and readers); returns self."""
    def output_existing(self, x: TensorLike) -> "TaskArgs":
        """Appends x written by the task, never allocated by strata (ordered like output); returns self."""
    def no_dep(self, x: TensorLike) -> "TaskArgs":
        """Appends x with no dependency tracking (the task waits for nothing on it); returns self."""
    def scalar(self, value: Any, dtype: Optional[DTypeLike] = None) -> "TaskArgs":
        """Appends a scalar: int -> i64 and float -> f32 unless dtype says otherwise."""
    @property
    def tensor_count(self) -> int:
        """The number of tensors appended."""
    @property
    def scalar_count(self) -> int:
        """The number of scalars appended."""

class TaskContext:
    """What a host callable or a Python kernel is given: the task's tensors and scalars, and for a kernel
    its block and part (valid during the call only)."""

    @property
    def task_id(self) -> int:
        """The task's id (as in the dict submit returned). UsageError after the call."""
    @property
    def worker_index(self) -> int:
        """The index of the child running this call among its kind (chip, sub or child Worker). UsageError after the
        call."""
    @property
    def tensor_count(self) -> int:
        """The number of tensors the task was given. UsageError after the call."""
    @property
    def scalar_count(self) -> int:
        """The number of scalars the task was given. UsageError after the call."""
    @property
    def block_idx(self) -> int:
        """This call's block, 0..block_dim-1. UsageError after the call."""
    @property
    def block_dim(self) -> int:
        """The number of blocks the kernel runs as (the submit's block_dim). UsageError after the call."""
    @property
    def part(self) -> int:
        """For a group task: this chip's position in the group, 0..parts-1; 0 otherwise. UsageError after the call."""
    @property
    def parts(self) -> int:
        """For a group task: the number of parts; 1 otherwise. UsageError after the call."""
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
    def allreduce(self, domain: Domain, buffer: str, op: ReduceOp = ..., block_dim: int = 1,
                  timeout: Optional[float] = None) -> TaskRef:
        """Reduces `buffer` in place over the members with `op`; returns the task's dict."""
    def reduce_scatter(self, domain: Domain, send: str, recv: str, op: ReduceOp = ...,
                       block_dim: int = 1, timeout: Optional[float] = None) -> TaskRef:
        """Reduces `send` over the members with `op`; rank r gets its part at the start of `recv`. Returns the task's
        dict."""
    def broadcast(self, domain: Domain, buffer: str, root: int, block_dim: int = 1,
                  timeout: Optional[float] = None) -> TaskRef:
        """Copies `buffer` of member chip `root` (a chip index) into every other member's; returns the task's dict."""
    def allgather(self, domain: Domain, buffer: str, block_dim: int = 1, timeout: Optional[float] = None) -> TaskRef:
        """Part r of rank r's `buffer` goes to every member's `buffer`; returns the task's dict."""
    def alltoall(self, domain: Domain, send: str, recv: str, block_dim: int = 1,
                 timeout: Optional[float] = None) -> TaskRef:
        """Chunk p of rank r's `send` goes to chunk r of rank p's `recv`; returns the task's dict."""
    @property
    def chip_count(self) -> int:
        """The run's Worker's number of chips."""
    @property
    def sub_count(self) -> int:
        """The run's Worker's number of sub processes."""

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
                 bringup: Optional[Sequence[Union[ChipBringup, Mapping[str, Any]]]] = None,
                 on_progress: Optional[Callable[[Dict[str, Any]], Any]] = None) -> None: ...
    def add_worker(self, **options: Any) -> "Worker":
        """A child Worker of this pod (level >= 4, before init()), of level - 1; takes strata.Worker's keyword options.
        The pod owns it: the handle registers kernels, host callables (and, in a level 5 pod, children and
        orchestration functions) on it before pod.init(); the pod initialises it inside its own process, runs it and
        closes it, and the handle refuses every call once the pod is closed."""
    def register_kernel(self, kernel: Union[str, Callable[[TaskContext], Any]], library: Optional[str] = None,
                        name: Optional[str] = None) -> Kernel:
        """A kernel by name (linked into libstrata, or from the shared library `library`), or a Python
        callable fn(ctx) run once per block in the chip processes (sim backend)."""
    def register_host(self, fn: Callable[[TaskContext], Any], name: Optional[str] = None) -> HostFn:
        """A Python callable run in a sub process, fn(ctx). Before init() only: the subs get it by fork."""
    def register_orch(self, fn: Callable[..., Any], name: Optional[str] = None) -> OrchFn:
        """A Python orchestration function for this pod's child Workers (level >= 4, before init()). A task submitted
        with o.submit(orch_fn, args, worker=i) runs fn(o, ctx) in child Worker i's process: o submits to that child's
        own chips and subs (its run waits for them), ctx holds the task's tensors as numpy views and its scalars.
        fn(o) is accepted too."""
    def init(self) -> None:
        """Forks the chips and subs and waits until each is ready. Python's own output buffers are flushed first, so a
        child does not inherit (and later write) text the parent has not written yet."""
    def respawn(self) -> None:
        """Between runs: re-forks every child that died or was declared lost."""
    def run(self, fn: Callable[[Orchestrator], Any]) -> None:
        """Calls fn(o) with an Orchestrator, then waits for every submitted task; raises TaskError naming the first
        failed task, or what fn raised."""
    def close(self) -> None:
        """Shuts every child down and frees the Worker's memory; a second call does nothing. UsageError on a pod's child
        Worker (its pod closes it)."""
    def create_buffer(self, shape: Sequence[int], dtype: DTypeLike) -> np.ndarray:
        """A C-contiguous numpy array in memory every child shares (zero-copy task argument); its base owns the
        memory."""
    def live_domains(self) -> List[LiveDomain]:
        """The domains allocated and not released, oldest first, as LiveDomain (the bring-up is not listed)."""
    def chip_contexts(self) -> List[ChipContext]:
        """Per chip, its ChipContext in the bring-up domain; UsageError before init() or without bringup."""
    def store_outputs(self) -> None:
        """Between runs: copies every bring-up output buffer into its numpy array (close() does it too)."""
    def status(self) -> Dict[str, Any]:
        """What the Worker is doing now, as a dict: in_run, run, submitted, finished, children (one dict each),
        unfinished_total, text."""
    def status_text(self) -> str:
        """What status() reports, as readable text (the stall report)."""
    @property
    def closed(self) -> bool:
        """True once close() has run (for a child Worker: once its pod is closed)."""
    @property
    def initialized(self) -> bool:
        """True from a successful init() until close() (always False on a pod's child handle)."""
    @property
    def level(self) -> int:
        """3 for a node; 4, 5 or 6 for a pod."""
    @property
    def chip_count(self) -> int:
        """The number of chips (a node's; 0 for a pod)."""
    @property
    def sub_count(self) -> int:
        """The number of sub processes."""
    @property
    def worker_count(self) -> int:
        """The number of child Workers (a pod's; 0 for a node)."""
    def __enter__(self) -> "Worker": ...
    def __exit__(self, *exc: Any) -> bool: ...

__all__: List[str]
