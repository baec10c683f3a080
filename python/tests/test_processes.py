"""Processes and the interpreter: forking after `import numpy` (OpenBLAS's thread pool), the refusal of
other threads, the GIL released while strata waits, Ctrl-C during run(), registration after init()."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import strata


def _python_env():
    """The environment of a fresh interpreter: this one's, without settings that would keep OpenBLAS from
    starting its pool."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"):
        env.pop(var, None)
    return env


# Run by a fresh /usr/bin/python3 (the interpreter the tests run under): numpy first, BLAS used before
# and after init(), and inside a host callable in the sub.
_NUMPY_FIRST = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np

    def threads():
        return len(os.listdir("/proc/self/task"))

    def blas_libraries():
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "openblas" in line})

    rng = np.random.default_rng(7)
    a = rng.random((256, 256))
    expected = a @ a                                  # BLAS before strata
    before = threads()

    import strata

    def matmul_in_sub(ctx):
        m = ctx.tensor(0)
        m[:] = m @ m                                  # BLAS in the sub

    with strata.Worker(chips=2, sub_workers=1) as w:
        add = w.register_kernel("py_add", library=sys.argv[1])
        host = w.register_host(matmul_in_sub)
        w.init()                                      # no allow_threads
        after_init = threads()
        x = w.create_buffer((8,), np.int64)
        y = w.create_buffer((8,), np.int64)
        x[:] = np.arange(8)
        m = w.create_buffer((256, 256), np.float64)
        m[:] = a

        def orch(o):
            o.submit(add, strata.TaskArgs().input(x).output_existing(y).scalar(5), worker=1)
            o.submit_host(host, strata.TaskArgs().inout(m))

        w.run(orch)
        after = a @ a                                 # BLAS after init() and run()
        print(json.dumps({
            "blas": blas_libraries(),
            "threads_before": before,
            "threads_after_init": after_init,
            "add_ok": bool((y == np.arange(8) + 5).all()),
            "sub_ok": bool(np.allclose(m, expected)),
            "parent_ok": bool(np.allclose(after, expected)),
        }))
    """
)


def test_numpy_imported_first_with_openblas_threads(kernel_lib):
    out = subprocess.run(
        [sys.executable, "-c", _NUMPY_FIRST, kernel_lib],
        env=_python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if not r["blas"]:
        pytest.skip("numpy does not use OpenBLAS here")
    if r["threads_before"] == 1:
        pytest.skip("OpenBLAS started no thread pool (one CPU?)")
    # init() forked although OpenBLAS's pool ran, and gave the parent its pool back.
    assert r["threads_after_init"] == r["threads_before"]
    assert r["add_ok"] and r["sub_ok"] and r["parent_ok"]


def _park(name):
    """A Python thread that waits until told to stop."""
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name=name)
    t.start()
    return t, stop


def test_a_python_thread_started_before_init_is_refused():
    t, stop = _park("parked-helper")
    try:
        with strata.Worker(chips=1) as w:
            with pytest.raises(strata.UsageError) as info:
                w.init()
            msg = str(info.value)
            assert "init()" in msg and "1 other thread" in msg and "parked-helper" in msg
            assert "allow_threads=True" in msg
            assert not w.initialized
        with strata.Worker(chips=1, allow_threads=True) as w:
            w.init()
            w.run(lambda o: None)
    finally:
        stop.set()
        t.join()


def test_the_gil_is_released_while_submit_waits_for_room():
    """Host tasks fill a four-slot ring; the first waits for a flag only a Python thread of the parent
    sets, and that thread sets it once it sees the orchestration function at a submit (the fifth waits
    for room). Were the GIL held while submit waits, that thread could not run: the first task would
    give up after 20 s and the run would fail (checked by hand with the release taken out)."""

    def wait_for_flag(ctx):
        if ctx.scalar(0) == 0:
            return  # only the first task waits
        flag = ctx.tensor(0)
        give_up = time.monotonic() + 20
        while flag[0] == 0:
            if time.monotonic() > give_up:
                raise RuntimeError("the parent's thread never set the flag")
            time.sleep(0.001)

    with strata.Worker(chips=0, sub_workers=1, task_ring=4) as w:
        host = w.register_host(wait_for_flag)
        w.init()
        flag = w.create_buffer((1,), np.int64)
        main = threading.main_thread().ident
        counter = [0]
        refused = []
        stop = threading.Event()
        blocked_line = []

        def helper():
            while not stop.is_set():
                counter[0] += 1
                frame = sys._current_frames().get(main)
                while frame is not None and frame.f_code.co_name != "orch":
                    frame = frame.f_back
                if frame is not None and blocked_line and frame.f_lineno == blocked_line[0] and flag[0] == 0:
                    try:
                        w.status()  # the Worker is busy in the main thread
                    except strata.UsageError as e:
                        refused.append(str(e))
                    flag[0] = 1
                time.sleep(0.001)

        def orch(o):
            for i in range(5):  # the fifth (at the latest) waits for room
                blocked_line.append(sys._getframe().f_lineno + 1)
                o.submit_host(host, strata.TaskArgs().input(flag).scalar(int(i == 0)), worker=0)

        t = threading.Thread(target=helper, name="helper")
        t.start()
        try:
            w.run(orch)
        finally:
            stop.set()
            t.join()
        assert flag[0] == 1 and counter[0] > 0
        assert refused and "busy in another thread" in refused[0]


def _sleep_chain(w, kernel_lib):
    k = w.register_kernel("py_sleep", library=kernel_lib)
    return k


def _sigint_after(seconds):
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def _check_cancelled_then_respawn(w, count, total, kernel):
    assert count[0] < total  # cancelled: not every task ran
    states = {c["name"]: c["state"] for c in w.status()["children"]}
    assert "lost" in states.values(), states
    assert w.live_domains() == []
    with pytest.raises(strata.ChildDiedError, match="respawn"):
        w.run(lambda o: None)
    w.respawn()
    before = int(count[0])
    w.run(lambda o: o.submit(kernel, strata.TaskArgs().inout(count).scalar(0), worker=0))
    assert count[0] == before + 1


@pytest.mark.parametrize("task_ring", [0, 2], ids=["waiting-in-drain", "waiting-in-submit"])
def test_ctrl_c_during_run_cancels_it(kernel_lib, task_ring):
    total = 100
    with strata.Worker(chips=1, task_ring=task_ring) as w:
        k = _sleep_chain(w, kernel_lib)
        w.init()
        count = w.create_buffer((1,), np.int64)
        seen = []

        def orch(o):
            with o.allocate_domain(name="d", workers=[0], window_size=4096):
                for _ in range(total):  # 100 x 100 ms, one after the other (each writes count)
                    o.submit(k, strata.TaskArgs().inout(count).scalar(100), worker=0)
                seen.append("submitted")

        timer = _sigint_after(0.5)
        try:
            with pytest.raises(KeyboardInterrupt):
                w.run(orch)
        finally:
            timer.cancel()
            timer.join()
        # With a two-slot ring the interrupt reached the function inside a submit.
        assert (seen == []) == (task_ring == 2)
        _check_cancelled_then_respawn(w, count, total, k)


def test_ctrl_c_while_the_function_runs_python(kernel_lib):
    total = 20
    with strata.Worker(chips=1) as w:
        k = _sleep_chain(w, kernel_lib)
        w.init()
        count = w.create_buffer((1,), np.int64)

        def orch(o):
            for _ in range(total):
                o.submit(k, strata.TaskArgs().inout(count).scalar(100), worker=0)
            time.sleep(30)  # interrupted: Python raises KeyboardInterrupt here, as usual

        timer = _sigint_after(0.5)
        try:
            with pytest.raises(KeyboardInterrupt):
                w.run(orch)
        finally:
            timer.cancel()
            timer.join()
        _check_cancelled_then_respawn(w, count, total, k)


def test_ctrl_c_then_close_leaves_nothing(kernel_lib):
    with strata.Worker(chips=2, sub_workers=1) as w:
        k = _sleep_chain(w, kernel_lib)
        w.init()
        count = w.create_buffer((2,), np.int64)

        def orch(o):
            for _ in range(50):
                o.submit(k, strata.TaskArgs().inout(count[0:1]).scalar(100), worker=0)

        timer = _sigint_after(0.3)
        try:
            with pytest.raises(KeyboardInterrupt):
                w.run(orch)
        finally:
            timer.cancel()
            timer.join()
    assert w.closed  # the leak check sees no child, /dev/shm entry or descriptor left


def test_children_ignore_sigint(kernel_lib):
    """A terminal's Ctrl-C reaches the children too; it is the parent's to handle. A sub that took it
    would raise KeyboardInterrupt in its next callable."""

    def spin(ctx):
        out = ctx.tensor(0)
        for _ in range(200000):  # Python bytecodes: a pending KeyboardInterrupt would be raised here
            pass
        out[0] += 1

    with strata.Worker(chips=1, sub_workers=1) as w:
        k = w.register_kernel("py_sleep", library=kernel_lib)
        h = w.register_host(spin)
        w.init()
        count = w.create_buffer((2,), np.int64)

        def orch(o):
            o.submit(k, strata.TaskArgs().inout(count[0:1]).scalar(1), worker=0)
            o.submit_host(h, strata.TaskArgs().inout(count[1:2]), worker=0)

        w.run(orch)  # the sub has run Python since its fork (the after-fork hook clears pending signals)
        for child in w.status()["children"]:
            os.kill(child["pid"], signal.SIGINT)
        w.run(orch)
        assert list(count) == [2, 2]
        assert all(c["state"] == "ready" for c in w.status()["children"])


def test_registration_after_init():
    with strata.Worker(chips=1, sub_workers=1) as w:
        w.init()
        with pytest.raises(strata.UsageError) as info:
            w.register_host(lambda ctx: None, name="late")
        msg = str(info.value)
        assert "register_host('late') after init()" in msg and "fork" in msg and "before init()" in msg
        # Kernels by name stay allowed after init(): every chip looks them up or loads their library.
        assert w.register_kernel("strata_allreduce").id >= 0
