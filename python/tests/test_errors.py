"""Errors: the exception classes, memory outside strata refused, a failed run sweeps its domains."""

import numpy as np
import pytest

import strata


def test_exception_hierarchy():
    assert issubclass(strata.UsageError, strata.Error) and issubclass(strata.UsageError, ValueError)
    assert issubclass(strata.TimeoutError, strata.Error) and issubclass(strata.TimeoutError, TimeoutError)
    for cls in (strata.TaskError, strata.ChildDiedError, strata.SystemError):
        assert issubclass(cls, strata.Error)
    assert issubclass(strata.Error, RuntimeError)


def test_numpy_array_outside_strata_memory_is_refused(kernel_lib):
    with strata.Worker(chips=1) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        w.init()
        private = np.ones(16, np.float32)
        with pytest.raises(strata.UsageError, match="not in memory strata shares with its children"):
            w.run(lambda o: o.submit(scale, strata.TaskArgs().inout(private).scalar(2.0)))
        x = w.create_buffer((4, 4), np.float32)
        with pytest.raises(strata.UsageError, match="C-contiguous"):
            strata.TaskArgs().input(x[:, 1])
        with pytest.raises(strata.UsageError, match="task argument"):
            strata.TaskArgs().input([1, 2, 3])
        np.testing.assert_array_equal(private, 1)
        w.run(lambda o: o.submit(scale, strata.TaskArgs().inout(x).scalar(2.0)))


def test_orchestration_function_raising_leaves_no_live_domain():
    class Sentinel(Exception):
        pass

    with strata.Worker(chips=2) as w:
        w.init()

        held = []

        def orch(o):
            # A handle nobody holds is released at once (as a C++ temporary would be): hold it.
            held.append(o.allocate_domain(name="kept", workers=[0, 1], window_size=4096))
            assert [d.name for d in w.live_domains()] == ["kept"]
            raise Sentinel("stop")

        with pytest.raises(Sentinel, match="stop"):
            w.run(orch)
        assert w.live_domains() == []
        assert held[0].released
        with pytest.raises(strata.UsageError):
            held[0][0]
        # The name is free again and allocation ids keep growing.
        ids = []
        w.run(lambda o: ids.append(o.allocate_domain(name="kept", workers=[0], window_size=4096).allocation_id))
        assert ids[0] >= 2


def test_failed_task_run_leaves_no_live_domain():
    def fail(ctx):
        raise RuntimeError("host failed")

    with strata.Worker(chips=2, sub_workers=1) as w:
        h = w.register_host(fail)
        w.init()
        handles = []

        def orch(o):
            handles.append(o.allocate_domain(name="tp", workers=[0, 1], window_size=4096))
            o.submit_host(h, strata.TaskArgs())

        with pytest.raises(strata.TaskError) as info:
            w.run(orch)
        assert info.value.exception_type == "RuntimeError"
        assert w.live_domains() == []


def test_orchestrator_is_invalid_after_its_run():
    with strata.Worker(chips=1) as w:
        w.init()
        kept = []
        w.run(kept.append)
        with pytest.raises(strata.UsageError, match="run"):
            kept[0].alloc((4,), np.float32)


def test_misuse_before_init_and_after_close():
    w = strata.Worker(chips=1)
    with pytest.raises(strata.UsageError, match="init"):
        w.run(lambda o: None)
    w.close()
    w.close()  # idempotent from Python
    with pytest.raises(strata.UsageError, match="closed"):
        w.init()
    with pytest.raises(strata.UsageError):
        strata.Worker(chips=1, level=4)
