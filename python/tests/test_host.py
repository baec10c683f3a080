"""Python host callables run in sub processes forked by init()."""

import os

import numpy as np
import pytest

import strata

_after_fork_ran = []
os.register_at_fork(after_in_child=lambda: _after_fork_ran.append(os.getpid()))


def test_host_callable_writes_into_a_numpy_buffer():
    parent = os.getpid()

    def fill(ctx):
        out = ctx.tensor(0)
        # Python is usable in the sub: imports, threading state, the after-fork hooks ran.
        import json
        import threading

        assert threading.current_thread() is threading.main_thread()
        assert _after_fork_ran and _after_fork_ran[-1] == os.getpid()
        out[:] = np.arange(out.size, dtype=out.dtype) * ctx.scalar(0, np.int64)
        out[0] = os.getpid()
        out[1] = len(json.dumps({"a": 1}))

    with strata.Worker(chips=1, sub_workers=2) as w:
        h = w.register_host(fill)
        w.init()
        a = w.create_buffer((16,), np.int64)
        b = w.create_buffer((16,), np.int64)

        def orch(o):
            o.submit_host(h, strata.TaskArgs().output_existing(a).scalar(3), worker=0)
            o.submit_host(h, strata.TaskArgs().output_existing(b).scalar(4), worker=1)

        w.run(orch)
        assert a[0] != parent and b[0] != parent and a[0] != b[0]
        assert a[1] == len('{"a": 1}')
        np.testing.assert_array_equal(a[2:], np.arange(2, 16) * 3)
        np.testing.assert_array_equal(b[2:], np.arange(2, 16) * 4)
        assert not _after_fork_ran  # the hooks ran in the children only


def test_failing_host_callable_gives_task_error_with_the_python_type():
    def check(ctx):
        raise KeyError("missing-key-42")

    with strata.Worker(chips=1, sub_workers=1) as w:
        h = w.register_host(check, name="check")
        w.init()
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit_host(h, strata.TaskArgs()))
        e = info.value
        assert isinstance(e, strata.Error)
        assert e.exception_type == "KeyError"
        assert "missing-key-42" in e.message and "Traceback" in e.message and "in check" in e.message
        assert e.task.name == "check" and e.child_kind == "sub" and e.child_index == 0
        assert e.task > 0 and len(e.chain) == 1 and e.chain[0]["task_id"] == e.task
        assert "KeyError" in str(e)
        # The Worker stays usable.
        ok = w.register_kernel("strata_allreduce")
        assert ok.id >= 0
        w.run(lambda o: None)


def test_register_host_after_init_is_refused():
    with strata.Worker(chips=1, sub_workers=1) as w:
        w.init()
        with pytest.raises(strata.UsageError, match="init"):
            w.register_host(lambda ctx: None)
        with pytest.raises(strata.UsageError, match="not callable"):
            w.register_host(42)


def test_scalars_reach_the_callable_with_their_dtypes():
    def read(ctx):
        out = ctx.tensor(0)
        out[0] = ctx.scalar(0)  # int -> int64
        out[1] = ctx.scalar(1, np.float32)  # float -> float32
        out[2] = ctx.scalar(2, np.float64)  # a numpy scalar keeps its dtype
        out[3] = ctx.scalar(3, np.int8)  # dtype= chooses
        out[4] = ctx.scalar(4, np.uint8)  # bool -> u8
        out[5] = ctx.scalar_count

    with strata.Worker(chips=1, sub_workers=1) as w:
        h = w.register_host(read)
        w.init()
        out = w.create_buffer((6,), np.float64)
        args = strata.TaskArgs().output_existing(out).scalar(-3).scalar(2.5).scalar(np.float64(0.1))
        args.scalar(-1, dtype=np.int8).scalar(True)
        w.run(lambda o: o.submit_host(h, args))
        np.testing.assert_array_equal(out, [-3, 2.5, 0.1, -1, 1, 5])


def test_print_in_a_host_callable_reaches_a_pipe_once():
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        import strata
        print("before init")  # buffered (stdout is a pipe) when init() forks
        with strata.Worker(chips=1, sub_workers=1) as w:
            h = w.register_host(lambda ctx: print("from the sub", int(ctx.tensor(0).sum())))
            w.init()
            x = w.create_buffer((4,), np.int64)
            x[:] = 5
            w.run(lambda o: o.submit_host(h, strata.TaskArgs().input(x)))
        print("after close")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["before init", "from the sub 20", "after close"], out.stdout
