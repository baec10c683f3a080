"""The quick start: a Worker, a kernel from a library, buffers in strata memory, scalars, scopes."""

import numpy as np
import pytest

import strata


def test_kernel_scales_a_buffer_in_place(kernel_lib):
    with strata.Worker(chips=2) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        w.init()
        x = w.create_buffer((1024,), np.float32)
        x[:] = np.arange(1024, dtype=np.float32)

        def orch(o):
            o.submit(scale, strata.TaskArgs().inout(x).scalar(2.0), block_dim=2, worker=0)
            o.submit(scale, strata.TaskArgs().inout(x).scalar(0.5, dtype=np.float32), worker=1)
            o.submit(scale, strata.TaskArgs().inout(x).scalar(3.0))

        w.run(orch)
        np.testing.assert_array_equal(x, np.arange(1024, dtype=np.float32) * 3)


def test_scalars_of_unknown_type_are_refused():
    with pytest.raises(strata.UsageError, match="dtype"):
        strata.TaskArgs().scalar(1, dtype="object")
    with pytest.raises(strata.UsageError, match="cannot tell"):
        strata.TaskArgs().scalar("text")


def test_buffer_is_zero_copy_and_outlives_the_worker():
    w = strata.Worker(chips=1)
    x = w.create_buffer((4, 8), np.int64)
    assert x.shape == (4, 8) and x.dtype == np.int64 and x.flags["C_CONTIGUOUS"]
    assert isinstance(x.base, strata._strata.RawBuffer) and x.base.bytes == 4 * 8 * 8
    x[:] = 7
    w.close()
    # The array's base owns the memory, not the Worker.
    assert int(x.sum()) == 7 * 32


def test_alloc_in_a_scope_chains_through_the_run_heap(kernel_lib):
    with strata.Worker(chips=2) as w:
        add = w.register_kernel("py_add", library=kernel_lib)
        w.init()
        x = w.create_buffer((64,), np.int64)
        y = w.create_buffer((64,), np.int64)
        x[:] = np.arange(64)

        def orch(o):
            with o.scope():
                t = o.alloc((8, 8), np.int64)
                assert t.shape == [8, 8] and t.dtype == strata.DType.I64
                o.submit(add, strata.TaskArgs().input(x).output_existing(t).scalar(10), worker=0)
                o.submit(add, strata.TaskArgs().input(t).output_existing(y).scalar(5), worker=1)

        w.run(orch)
        np.testing.assert_array_equal(y, np.arange(64) + 15)


def test_worker_options_and_status(kernel_lib):
    with strata.Worker(chips=2, sub_workers=1, timeouts={"init": 20000, "close": 5000}, fail_fast=False) as w:
        assert w.status()["children"] == []
        w.init()
        assert w.initialized and w.chip_count == 2 and w.sub_count == 1
        s = w.status()
        assert [c["kind"] for c in s["children"]] == ["chip", "chip", "sub"]
        assert all(c["pid"] > 0 for c in s["children"])
    assert w.closed
    with pytest.raises(strata.UsageError, match="unknown field"):
        strata.Worker(chips=1, timeouts={"sumbit": 1})
