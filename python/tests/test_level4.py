"""Level 4 from Python: a pod of child Workers, each with its own chips forked inside its process, running
a Python orchestration function that submits C++ kernels; errors coming back through every level."""

import os

import numpy as np
import pytest

import strata

CHIPS = [1, 2]  # chips of node 0 and node 1
PER_CHIP = 64


def offset_of(node, chip):
    """What chip `chip` of node `node` adds: distinct everywhere, so a task run in the wrong place shows."""
    return 100 * node + chip


def make_pod(kernel_lib):
    """A level 4 pod of two nodes with one sub each; each node's py_add and py_fail, and a Python host
    callable, are registered on it."""
    pod = strata.Worker(level=4)
    nodes = [pod.add_worker(chips=n, sub_workers=1) for n in CHIPS]
    add = [node.register_kernel("py_add", library=kernel_lib) for node in nodes]
    fail = [node.register_kernel("py_fail", library=kernel_lib) for node in nodes]

    def mark(ctx):  # a host callable of a node: runs in that node's sub, a grandchild of the pod
        ctx.tensor(0)[ctx.scalar(0)] = os.getpid()

    marks = [node.register_host(mark) for node in nodes]

    def node_add(o, ctx):
        # Runs in node ctx.worker_index's process, on its own Worker: splits the node's slice over its chips.
        node = ctx.worker_index
        x, y = ctx.tensor(0), ctx.tensor(1)
        b = ctx.scalar(0)
        assert o.chip_count == CHIPS[node] and x.size == CHIPS[node] * PER_CHIP
        for chip in range(o.chip_count):
            part = slice(chip * PER_CHIP, (chip + 1) * PER_CHIP)
            args = strata.TaskArgs().input(x[part]).output_existing(y[part]).scalar(b + offset_of(node, chip))
            o.submit(add[node], args, worker=chip, block_dim=2)
        # The pids of the process that ran this function and of its sub, for the test to check where they ran.
        pids = ctx.tensor(2)
        pids[node] = os.getpid()
        o.submit_host(marks[node], strata.TaskArgs().output_existing(pids).scalar(2 + node))

    def node_fail(o, ctx):
        node = ctx.worker_index
        y = ctx.tensor(0)
        o.submit(fail[node], strata.TaskArgs().inout(y[:PER_CHIP]).scalar(99), worker=CHIPS[node] - 1)
        # Depends on the failing task: must not run.
        o.submit(add[node], strata.TaskArgs().input(y[:PER_CHIP]).output_existing(y[PER_CHIP:]).scalar(1), worker=0)

    def node_raise(o):  # one argument: fn(o) is accepted too
        raise ValueError(f"python orch failed on a node with {o.chip_count} chips")

    fns = {
        "add": pod.register_orch(node_add),
        "fail": pod.register_orch(node_fail, name="node_fail"),
        "raise": pod.register_orch(node_raise),
    }
    return pod, nodes, fns


def run_add(pod, fn, x, y, pids):
    def orch(o):
        start = 0
        for node, chips in enumerate(CHIPS):
            part = slice(start, start + chips * PER_CHIP)
            start += chips * PER_CHIP
            args = strata.TaskArgs().input(x[part]).output_existing(y[part]).output_existing(pids).scalar(node + 2)
            o.submit(fn, args, worker=node)

    pod.run(orch)


def expected(x):
    out = np.empty_like(x)
    start = 0
    for node, chips in enumerate(CHIPS):
        for chip in range(chips):
            part = slice(start, start + PER_CHIP)
            out[part] = x[part] + node + 2 + offset_of(node, chip)
            start += PER_CHIP
    return out


def buffers(pod):
    n = sum(CHIPS) * PER_CHIP
    x = pod.create_buffer((n,), np.int64)
    y = pod.create_buffer((n,), np.int64)
    pids = pod.create_buffer((4,), np.int64)
    x[:] = np.arange(n) * 3 - 500
    y[:] = 0
    return x, y, pids


def test_pod_runs_a_python_orchestration_function_in_each_child_worker(kernel_lib):
    pod, nodes, fns = make_pod(kernel_lib)
    with pod:
        pod.init()
        assert pod.level == 4 and pod.worker_count == 2
        assert [n.level for n in nodes] == [3, 3] and [n.chip_count for n in nodes] == CHIPS
        x, y, pids = buffers(pod)
        run_add(pod, fns["add"], x, y, pids)
        np.testing.assert_array_equal(y, expected(x))
        # Each node's function ran in that node's own process.
        children = [c["pid"] for c in pod.status()["children"] if c["kind"] == "worker"]
        assert len(children) == 2 and pids.tolist()[:2] == children
        subs = pids.tolist()[2:]
        assert len(set(subs)) == 2 and not set(subs) & set(children) and os.getpid() not in subs
        # A second run reuses the child Workers and their chips.
        x[:] = 7
        run_add(pod, fns["add"], x, y, pids)
        np.testing.assert_array_equal(y, expected(x))


def test_kernel_failing_two_levels_down_comes_back_with_every_frame(kernel_lib):
    pod, _, fns = make_pod(kernel_lib)
    with pod:
        pod.init()
        scratch = pod.create_buffer((2 * PER_CHIP,), np.int64)
        scratch[:] = 0
        with pytest.raises(strata.TaskError) as info:
            pod.run(lambda o: o.submit(fns["fail"], strata.TaskArgs().inout(scratch), worker=1))
        e = info.value
        # The pod's view: its task failed on worker child 1 ...
        assert (e.task.name, e.child_kind, e.child_index) == ("node_fail", "worker", 1)
        # ... the innermost failure as is ...
        assert e.message == "py_fail 99" and e.exception_type == "std::runtime_error"
        assert "'py_fail' failed on chip 1" in str(e) and "worker 1" in str(e)
        # ... and every level, outermost first.
        assert [f["level"] for f in e.chain] == [4, 3]
        assert e.chain[0] == {"level": 4, "task_id": e.task, "task_name": "node_fail", "child_kind": "worker",
                               "child_index": 1}
        inner = e.chain[1]
        assert (inner["task_name"], inner["child_kind"], inner["child_index"]) == ("py_fail", "chip", 1)
        assert inner["task_id"] > 0
        np.testing.assert_array_equal(scratch[PER_CHIP:], 0)  # the dependent of the failed kernel did not run

        # A Python exception in the orchestration function: its type and traceback come back.
        with pytest.raises(strata.TaskError) as info:
            pod.run(lambda o: o.submit(fns["raise"], strata.TaskArgs(), worker=0))
        e = info.value
        assert e.exception_type == "ValueError" and (e.child_kind, e.child_index) == ("worker", 0)
        assert "python orch failed on a node with 1 chips" in e.message and "in node_raise" in e.message
        assert len(e.chain) == 1 and e.chain[0]["task_name"] == "node_raise"

        # Nothing died: the pod, its nodes and their chips serve the next run.
        x, y, pids = buffers(pod)
        run_add(pod, fns["add"], x, y, pids)
        np.testing.assert_array_equal(y, expected(x))


def test_task_error_raised_through_a_python_orchestration_function_keeps_its_frames(kernel_lib):
    pod = strata.Worker(level=4)
    nodes = [pod.add_worker(chips=1) for _ in range(2)]
    fail = [node.register_kernel("py_fail", library=kernel_lib) for node in nodes]

    def node_fn(o, ctx):
        seen = ctx.tensor(0)
        spec = [strata.BufferSpec("x", np.int64, 4)]
        with o.allocate_domain(name="d", workers=[0], window_size=4096, buffers=spec) as d:
            o.submit(fail[ctx.worker_index], strata.TaskArgs().inout(d[0].buffer("x")).scalar(5), worker=0)
            o.copy_from(np.zeros(4, np.int64), d[0].buffer("x"))  # waits for the failed writer
            try:
                o.submit(fail[ctx.worker_index], strata.TaskArgs().scalar(6))  # fail-fast: the run's TaskError
            except strata.TaskError as e:
                seen[ctx.worker_index] = len(e.chain)
                raise  # uncaught: it leaves the function, and the pod gets it with its levels

    fn = pod.register_orch(node_fn)
    with pod:
        pod.init()
        seen = pod.create_buffer((2,), np.int64)
        seen[:] = 0
        with pytest.raises(strata.TaskError) as info:
            pod.run(lambda o: o.submit(fn, strata.TaskArgs().output_existing(seen), worker=1))
        assert seen.tolist() == [0, 1], "node 1's function saw its own run's TaskError"
        e = info.value
        assert e.message == "py_fail 5" and e.exception_type == "std::runtime_error"
        assert [(f["level"], f["task_name"], f["child_kind"]) for f in e.chain] == [
            (4, "node_fn", "worker"),
            (3, "py_fail", "chip"),
        ]


def test_registration_after_init_and_calls_meant_for_the_pod_are_refused(kernel_lib):
    pod, nodes, _ = make_pod(kernel_lib)
    with pytest.raises(strata.UsageError, match="init"):
        nodes[0].init()
    with pytest.raises(strata.UsageError, match="pod"):
        nodes[0].run(lambda o: None)
    with pytest.raises(strata.UsageError, match="pod"):
        nodes[0].create_buffer((4,), np.int64)
    with pytest.raises(strata.UsageError, match="not callable"):
        pod.register_orch(42)
    with pytest.raises(strata.UsageError, match="level 3"):
        nodes[0].register_orch(lambda o, ctx: None)
    with pod:
        pod.init()
        with pytest.raises(strata.UsageError, match="after init"):
            pod.register_orch(lambda o, ctx: None)
        with pytest.raises(strata.UsageError, match="after init"):
            pod.add_worker(chips=1)
        with pytest.raises(strata.UsageError, match="after its pod's init"):
            nodes[1].register_kernel("py_scale", library=kernel_lib)
        with pytest.raises(strata.UsageError, match="after its pod's init"):
            nodes[1].register_host(lambda ctx: None)
        with pytest.raises(strata.UsageError, match="pod"):
            nodes[1].close()
        assert not nodes[1].closed
    # The child handles outlive the pod safely: they refuse every call.
    assert nodes[0].closed
    with pytest.raises(strata.UsageError, match="closed"):
        nodes[0].chip_count
    with pytest.raises(strata.UsageError, match="closed"):
        nodes[0].register_kernel("py_add", library=kernel_lib)
    with pytest.raises(strata.UsageError):
        strata.Worker(chips=1).add_worker(chips=1)


def test_level5_pod_runs_python_orchestration_functions_two_levels_deep(kernel_lib):
    top = strata.Worker(level=5)
    mid = top.add_worker()  # level 4
    leaf = mid.add_worker(chips=1)  # level 3
    scale = leaf.register_kernel("py_scale", library=kernel_lib)

    def inner(o, ctx):  # runs in the level 3 Worker's process
        o.submit(scale, strata.TaskArgs().inout(ctx.tensor(0)).scalar(3.0), worker=0)

    inner_fn = mid.register_orch(inner)

    def outer(o, ctx):  # runs in the level 4 Worker's process
        o.submit(inner_fn, strata.TaskArgs().inout(ctx.tensor(0)), worker=0)

    outer_fn = top.register_orch(outer)
    assert (top.level, mid.level, leaf.level) == (5, 4, 3)
    with top:
        top.init()
        x = top.create_buffer((8,), np.float32)
        x[:] = 2
        top.run(lambda o: o.submit(outer_fn, strata.TaskArgs().inout(x), worker=0))
        np.testing.assert_array_equal(x, 6)
        with pytest.raises(strata.UsageError, match="after its pod's init"):
            leaf.register_kernel("py_add", library=kernel_lib)
    assert leaf.closed and mid.closed


def test_a_python_kernel_runs_on_a_node_chip():
    """A Python kernel registered on a node runs on that node's chip, a grandchild of the pod's process
    (the node forks it from a thread that holds no GIL)."""
    with strata.Worker(level=4) as pod:
        node = pod.add_worker(chips=2, chip_threads=2)

        def triple(ctx):
            x = ctx.tensor(0)
            n = x.size // ctx.block_dim
            x[ctx.block_idx * n : (ctx.block_idx + 1) * n] *= 3
            ctx.tensor(1)[ctx.worker_index] = os.getpid()

        tri = node.register_kernel(triple)

        def node_orch(o, ctx):
            x, pids = ctx.tensor(0), ctx.tensor(1)
            for chip in range(o.chip_count):
                o.submit(tri, strata.TaskArgs().inout(x[chip * 32 : (chip + 1) * 32]).inout(pids), worker=chip,
                         block_dim=4)

        fn = pod.register_orch(node_orch)
        pod.init()
        x = pod.create_buffer((64,), np.float32)
        x[:] = np.arange(64, dtype=np.float32)
        pids = pod.create_buffer((2,), np.int64)
        pids[:] = 0
        pod.run(lambda o: o.submit(fn, strata.TaskArgs().inout(x).inout(pids), worker=0))
        np.testing.assert_array_equal(x, 3 * np.arange(64, dtype=np.float32))
        assert pids[0] != 0 and pids[1] != 0 and pids[0] != pids[1] and os.getpid() not in pids.tolist()
