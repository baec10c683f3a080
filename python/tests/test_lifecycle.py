"""A Worker's life between runs: respawn() after a chip or a sub died (killed, or past its task timeout),
every CallConfig field as a keyword argument, and the trace file trace_path writes."""

import json
import os
import signal
import time

import numpy as np
import pytest

import strata
from processes import child, wait_gone


def add_one(ctx):
    for i in range(ctx.tensor_count):
        ctx.tensor(i)[:] += 1


def run_everywhere(w, scale, host, x, n):
    """Scales x by 2 on every chip, then adds 1 on the sub. Dependencies are tracked per base address, so
    the host task names each chip's slice (a tensor over all of x would not wait for the slices)."""

    def orch(o):
        parts = [x[chip * n : (chip + 1) * n] for chip in range(w.chip_count)]
        for chip, part in enumerate(parts):
            o.submit(scale, strata.TaskArgs().inout(part).scalar(2.0), worker=chip)
        args = strata.TaskArgs()
        for part in parts:
            args.inout(part)
        o.submit_host(host, args)

    w.run(orch)


def test_respawn_after_a_chip_is_killed(kernel_lib):
    with strata.Worker(chips=2, sub_workers=1) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        host = w.register_host(add_one)
        w.init()
        x = w.create_buffer((32,), np.float32)
        x[:] = 1
        run_everywhere(w, scale, host, x, 16)
        np.testing.assert_array_equal(x, 3)

        victim = child(w, "chip", 1)
        os.kill(victim["pid"], signal.SIGKILL)
        wait_gone(victim["pid"])
        for _ in range(2):  # every call fails until respawn()
            with pytest.raises(strata.ChildDiedError, match="chip 1"):
                w.run(lambda o: None)

        w.respawn()
        again = child(w, "chip", 1)
        assert again["pid"] != victim["pid"] and again["generation"] > victim["generation"]
        assert not again["gone"]
        run_everywhere(w, scale, host, x, 16)
        np.testing.assert_array_equal(x, 7)


def test_respawn_after_task_timeouts_on_a_chip_and_a_sub(kernel_lib):
    def sleepy(ctx):
        time.sleep(60)

    with strata.Worker(chips=2, sub_workers=1) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        sleep_ms = w.register_kernel("py_sleep_ms", library=kernel_lib)
        host = w.register_host(add_one)
        nap = w.register_host(sleepy)
        w.init()
        x = w.create_buffer((32,), np.float32)
        x[:] = 1

        # timeout= is CallConfig.timeout, in seconds: the task fails and its child is killed.
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit(sleep_ms, strata.TaskArgs().scalar(60000), worker=1, timeout=0.2))
        assert info.value.child_kind == "chip" and info.value.child_index == 1
        w.respawn()
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit_host(nap, strata.TaskArgs(), timeout=0.2))
        assert info.value.child_kind == "sub" and info.value.task.name == "sleepy"
        w.respawn()
        # The new sub runs Python callables too (it ran the after-fork hook itself).
        run_everywhere(w, scale, host, x, 16)
        np.testing.assert_array_equal(x, 3)
        with pytest.raises(strata.UsageError, match="timeout"):
            w.run(lambda o: o.submit(scale, strata.TaskArgs().inout(x).scalar(1.0), timeout=-1))


def test_respawn_of_a_pod_restarts_a_killed_child_worker(kernel_lib):
    pod = strata.Worker(level=4)
    nodes = [pod.add_worker(chips=1) for _ in range(2)]
    scale = [n.register_kernel("py_scale", library=kernel_lib) for n in nodes]

    def step(o, ctx):
        o.submit(scale[ctx.worker_index], strata.TaskArgs().inout(ctx.tensor(0)).scalar(3.0), worker=0)

    fn = pod.register_orch(step)
    with pod:
        pod.init()
        x = pod.create_buffer((2, 8), np.float32)
        x[:] = 1
        victim = child(pod, "worker", 1)
        os.kill(victim["pid"], signal.SIGKILL)
        wait_gone(victim["pid"])
        with pytest.raises(strata.ChildDiedError, match="worker 1"):
            pod.run(lambda o: None)
        pod.respawn()
        pod.run(lambda o: [o.submit(fn, strata.TaskArgs().inout(x[i]), worker=i) for i in range(2)])
        np.testing.assert_array_equal(x, 3)


def test_trace_path_writes_a_chrome_trace_with_every_task(kernel_lib, tmp_path):
    path = tmp_path / "run.json"

    def check(ctx):
        assert ctx.tensor(0)[0] == 2

    with strata.Worker(chips=2, sub_workers=1, trace_path=path) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        host = w.register_host(check, name="check")
        w.init()
        x = w.create_buffer((64,), np.float32)
        x[:] = 1

        def orch(o):
            o.submit(scale, strata.TaskArgs().inout(x).scalar(2.0), worker=1, block_dim=3, timeout=30)
            o.submit_host(host, strata.TaskArgs().input(x), block_dim=1, timeout=30.0)
            with o.allocate_domain(name="dp", workers=[0, 1], window_size=1 << 16,
                                   buffers=[strata.BufferSpec("g", np.float32, 16)]) as dp:
                # Every CallConfig field is a keyword argument of the collectives too.
                o.allreduce(dp, "g", block_dim=2, timeout=30)

        w.run(orch)
        assert not path.exists(), "written when the Worker closes"
    try:
        with open(path) as f:
            trace = json.load(f)
        events = trace["traceEvents"] if isinstance(trace, dict) else trace
        tasks = [e for e in events if e.get("ph") == "X" and "task" in e.get("args", {})]
        by_name = {}
        for e in tasks:
            by_name.setdefault(e["name"], []).append(e)
        assert len(by_name["py_scale"]) == 1 and by_name["py_scale"][0]["args"]["block_dim"] == 3
        assert by_name["py_scale"][0]["args"]["status"] == "ok"
        assert len(by_name["check"]) == 1 and by_name["check"][0]["args"]["status"] == "ok"
        allreduce = by_name["strata_allreduce"]
        assert len(allreduce) == 2 and {e["args"]["block_dim"] for e in allreduce} == {2}
        assert by_name["py_scale"][0]["args"]["task"] < by_name["check"][0]["args"]["task"]
    finally:
        path.unlink()
    assert not path.exists()


def test_on_progress_reports_while_a_run_waits_and_a_raise_cancels_it(kernel_lib):
    reports = []
    with strata.Worker(chips=1, on_progress=reports.append) as w:
        sleep_ms = w.register_kernel("py_sleep_ms", library=kernel_lib)
        w.init()
        w.run(lambda o: [o.submit(sleep_ms, strata.TaskArgs().scalar(150), worker=0) for _ in range(4)])
    assert reports, "no progress report during a 600 ms run"
    assert set(reports[0]) == {"run", "submitted", "finished", "elapsed_s"}
    assert all(r["submitted"] == 4 and 0 <= r["finished"] <= 4 for r in reports)
    assert [r["elapsed_s"] for r in reports] == sorted(r["elapsed_s"] for r in reports)

    def stop(progress):
        raise RuntimeError(f"enough after {progress['finished']} tasks")

    with strata.Worker(chips=1, on_progress=stop) as w:
        sleep_ms = w.register_kernel("py_sleep_ms", library=kernel_lib)
        w.init()
        with pytest.raises(RuntimeError, match="enough after"):
            w.run(lambda o: [o.submit(sleep_ms, strata.TaskArgs().scalar(150), worker=0) for _ in range(40)])
        w.respawn()  # the cancellation killed the chip that owed work
        w.run(lambda o: o.submit(sleep_ms, strata.TaskArgs().scalar(1), worker=0))

    with strata.Worker(level=4) as pod:
        with pytest.raises(strata.UsageError, match="on_progress"):
            pod.add_worker(chips=1, on_progress=print)
