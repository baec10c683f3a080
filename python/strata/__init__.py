"""strata from Python: Workers, orchestration functions, numpy buffers in strata memory, domains.

    import numpy as np
    import strata

    with strata.Worker(chips=2, sub_workers=1) as w:
        check = w.register_host(lambda ctx: print(ctx.tensor(0).sum()))
        w.init()
        x = w.create_buffer((1024,), np.float32)   # a numpy array in strata memory, zero-copy
        x[:] = 1.0

        def orch(o):
            o.submit_host(check, strata.TaskArgs().input(x))

        w.run(orch)

See docs/python.md. The C++ runtime is the extension module strata._strata; this package re-exports it.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from . import _strata
from ._strata import (  # noqa: F401  (re-exported)
    BufferSpec,
    ChildDiedError,
    ChipContext,
    Domain,
    DomainBuffer,
    DType,
    Error,
    HostFn,
    Kernel,
    LiveDomain,
    Orchestrator,
    OrchFn,
    ReduceOp,
    Scope,
    SystemError,
    TaskArgs,
    TaskContext,
    TaskError,
    Tensor,
    TimeoutError,
    UsageError,
)

__version__ = _strata.__version__

#: "Any child of the right kind": the task goes to the least loaded one.
ANY_WORKER = -1


class FailedTask(int):
    """The task a TaskError is about (TaskError.task): an int, the task's id, with its name in `.name`."""

    def __new__(cls, task_id: int, name: str) -> "FailedTask":
        self = super().__new__(cls, task_id)
        self.name = name
        return self

    @property
    def id(self) -> int:
        """The task's id (the int's value)."""
        return int(self)

    def __repr__(self) -> str:
        return f"#{int(self)} '{self.name}'"

    __str__ = __repr__


@dataclasses.dataclass
class Timeouts:
    """Bounded waits of a Worker, in milliseconds; 0 takes the default (see `strata info`)."""

    submit: int = 0
    init: int = 0
    close: int = 0
    comm: int = 0
    stall_warn: int = 0
    stall: int = 0


_TIMEOUT_FIELDS = [f.name for f in dataclasses.fields(Timeouts)]


def _timeouts(timeouts: Union[None, Timeouts, Mapping[str, int]]) -> list:
    if timeouts is None:
        return [0] * len(_TIMEOUT_FIELDS)
    if isinstance(timeouts, Timeouts):
        return [int(getattr(timeouts, f)) for f in _TIMEOUT_FIELDS]
    unknown = set(timeouts) - set(_TIMEOUT_FIELDS)
    if unknown:
        raise UsageError(f"timeouts: unknown field(s) {sorted(unknown)}; the fields are {_TIMEOUT_FIELDS} (ms)")
    return [int(timeouts.get(f, 0)) for f in _TIMEOUT_FIELDS]


@dataclasses.dataclass
class ChipBringup:
    """One chip's bring-up at init(): its rank in the bring-up domain, its window, the named buffers carved
    from it (in order), inputs copied into buffers before init() returns (array-likes, exactly the buffer's
    bytes), and outputs: writable C-contiguous numpy arrays (exactly the buffer's bytes) that
    store_outputs() and close() copy the buffers into. The Worker keeps the output arrays until it closes."""

    rank: int
    window_size: int
    buffers: Sequence[BufferSpec] = ()
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    outputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _bringup(entries: Optional[Sequence[Union[ChipBringup, Mapping[str, Any]]]]) -> list:
    out = []
    for i, e in enumerate(entries or []):
        if isinstance(e, Mapping):
            try:
                e = ChipBringup(**e)
            except TypeError as err:
                raise UsageError(f"bringup[{i}]: {err}") from None
        if not isinstance(e, ChipBringup):
            raise UsageError(f"bringup[{i}]: expected a strata.ChipBringup or a dict of its fields, not {e!r}")
        out.append(ChipBringup(e.rank, e.window_size, list(e.buffers), dict(e.inputs), dict(e.outputs)))
    return out


def _takes_one_argument(fn: Callable) -> bool:
    """True if fn can be called with one positional argument but not with two."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    for bound in (("o",), ("o", "ctx")):
        try:
            sig.bind(*bound)
        except TypeError:
            if len(bound) == 2:
                return True
            return False
    return False


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


class Worker(_strata.Worker):
    """A node (level 3): chips and sub processes forked by init(); or a pod (level >= 4) whose children are
    Workers of level - 1 (add_worker). A context manager: close() on exit.

    Options are WorkerOptions' fields; timeouts is a strata.Timeouts or a dict of its fields (ms); bringup
    one strata.ChipBringup (or a dict of its fields) per chip; on_progress a callable given a dict (run,
    submitted, finished, elapsed_s) at most every 200 ms while a run waits (an exception it raises cancels
    the run and comes out of run()).
    """

    def __init__(
        self,
        chips: int = 0,
        sub_workers: int = 0,
        level: int = 3,
        device_ids: Optional[Sequence[int]] = None,
        fail_fast: bool = True,
        trace_path: str = "",
        timeouts: Union[None, Timeouts, Mapping[str, int]] = None,
        heap_bytes: int = 0,
        buffer_bytes: int = 0,
        task_ring: int = 0,
        backend: str = "",
        backend_options: str = "",
        chip_threads: int = 0,
        allow_threads: bool = False,
        bringup: Optional[Sequence[Union[ChipBringup, Mapping[str, Any]]]] = None,
        on_progress: Optional[Callable[[dict], Any]] = None,
        _parent: Optional["Worker"] = None,
    ) -> None:
        super().__init__(
            level=level,
            chips=chips,
            device_ids=list(device_ids or []),
            sub_workers=sub_workers,
            fail_fast=fail_fast,
            trace_path=str(trace_path),
            timeouts=_timeouts(timeouts),
            heap_bytes=heap_bytes,
            buffer_bytes=buffer_bytes,
            task_ring=task_ring,
            backend=backend,
            backend_options=backend_options,
            chip_threads=chip_threads,
            allow_threads=allow_threads,
            bringup=_bringup(bringup),
            parent=_parent,
            on_progress=on_progress,
        )

    def add_worker(self, **options: Any) -> "Worker":
        """A child Worker of this pod (level >= 4, before init()), of level - 1; takes strata.Worker's
        keyword options. The pod owns it: the handle registers kernels, host callables (and, in a level 5
        pod, children and orchestration functions) on it before pod.init(); the pod initialises it inside
        its own process, runs it and closes it, and the handle refuses every call once the pod is closed."""
        if "_parent" in options:
            raise UsageError("add_worker: unknown option '_parent'")
        return Worker(_parent=self, **options)

    def register_kernel(
        self,
        kernel: Union[str, Callable[[TaskContext], Any]],
        library: Optional[str] = None,
        name: Optional[str] = None,
    ) -> Kernel:
        """A kernel by name: linked into libstrata (the shipped collectives, "strata_allreduce", ...), or
        exported with STRATA_KERNEL(name) from the shared library at `library` (loaded by every chip).

        Or a Python callable, fn(ctx), run once per block in the chip processes (sim backend): a kernel
        for prototyping. Before init() only (the chips get it by fork); `name` defaults to fn.__name__.
        """
        if callable(kernel):
            if library is not None:
                raise UsageError("register_kernel(fn, library=...): a Python kernel comes from no library")
            if name is None:
                name = getattr(kernel, "__name__", "py_kernel")
            return super().register_py_kernel(kernel, name)
        if not isinstance(kernel, str):
            raise UsageError(f"register_kernel: {kernel!r} is neither a kernel name nor a callable")
        if name is not None:
            raise UsageError("register_kernel(name, name=...): name= is for a Python kernel; pass the name once")
        if library is None:
            return super().register_kernel(kernel)
        return super().load_kernel(str(library), kernel)

    def register_host(self, fn: Callable[[TaskContext], Any], name: Optional[str] = None) -> HostFn:
        """A Python callable run in a sub process, fn(ctx). Before init() only: the subs get it by fork."""
        if not callable(fn):
            raise UsageError(f"register_host: {fn!r} is not callable")
        if name is None:
            name = getattr(fn, "__name__", "host")
        return super().register_host(fn, name)

    def register_orch(self, fn: Callable[..., Any], name: Optional[str] = None) -> OrchFn:
        """A Python orchestration function for this pod's child Workers (level >= 4, before init()). A task
        submitted with o.submit(orch_fn, args, worker=i) runs fn(o, ctx) in child Worker i's process: o
        submits to that child's own chips and subs (its run waits for them), ctx holds the task's tensors
        as numpy views and its scalars. fn(o) is accepted too."""
        if not callable(fn):
            raise UsageError(f"register_orch: {fn!r} is not callable")
        if name is None:
            name = getattr(fn, "__name__", "orch")
        if _takes_one_argument(fn):
            one = fn

            def fn(o: Orchestrator, ctx: TaskContext) -> Any:
                return one(o)

        return super().register_orch(fn, name)

    def init(self) -> None:
        """Forks the chips and subs and waits until each is ready. Python's own output buffers are flushed
        first, so a child does not inherit (and later write) text the parent has not written yet."""
        _flush_std_streams()
        super().init()

    def respawn(self) -> None:
        """Between runs: re-forks every child that died or was declared lost."""
        _flush_std_streams()
        super().respawn()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False


__all__ = [
    "ANY_WORKER",
    "BufferSpec",
    "ChildDiedError",
    "ChipBringup",
    "ChipContext",
    "Domain",
    "DomainBuffer",
    "DType",
    "Error",
    "FailedTask",
    "HostFn",
    "Kernel",
    "LiveDomain",
    "Orchestrator",
    "OrchFn",
    "ReduceOp",
    "Scope",
    "SystemError",
    "TaskArgs",
    "TaskContext",
    "TaskError",
    "Tensor",
    "TimeoutError",
    "Timeouts",
    "UsageError",
    "Worker",
]
