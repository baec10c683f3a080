"""Python kernels: Python callables registered with register_kernel(fn), run once per block in the sim
chip processes."""

import os
import threading
import time

import numpy as np
import pytest

import strata


def _chip_pids(w):
    return {c["index"]: c["pid"] for c in w.status()["children"] if c["kind"] == "chip"}


def test_python_kernel_scales_a_buffer_in_place():
    def scale(ctx):
        x = ctx.tensor(0)
        x *= ctx.scalar(0, np.float32)
        info = ctx.tensor(1)
        info[:] = [os.getpid(), ctx.task_id, ctx.tensor_count, ctx.scalar_count, ctx.worker_index,
                   ctx.block_idx, ctx.block_dim, ctx.part, ctx.parts]

    with strata.Worker(chips=2) as w:
        k = w.register_kernel(scale)
        w.init()
        x = w.create_buffer((1000,), np.float32)
        x[:] = np.arange(1000, dtype=np.float32)
        info = w.create_buffer((9,), np.int64)
        ids = []
        w.run(lambda o: ids.append(o.submit(k, strata.TaskArgs().inout(x).output_existing(info).scalar(2.5),
                                            worker=1)["id"]))
        np.testing.assert_array_equal(x, np.arange(1000, dtype=np.float32) * np.float32(2.5))
        # It ran in chip 1's process, as task ids[0], block 0 of 1.
        assert info.tolist() == [_chip_pids(w)[1], ids[0], 2, 1, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("chip_threads", [1, 2])
def test_blocks_partition_the_work_and_each_thread_takes_the_gil(chip_threads):
    started = []  # this chip process's copy: the blocks that began

    def fill(ctx):
        b, n = ctx.block_idx, ctx.block_dim
        out = ctx.tensor(0)
        chunk = out.size // n
        out[b * chunk : (b + 1) * chunk] = np.arange(b * chunk, (b + 1) * chunk) * 10 + b
        ctx.tensor(1)[b] = threading.get_native_id()
        if chip_threads > 1:
            # Stay in this block until another one has begun: only the chip's other thread can begin it,
            # so two threads of the chip ran Python (the GIL is given up while this one sleeps).
            started.append(b)
            deadline = time.monotonic() + 30
            while len(started) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("no other block began while block %d waited" % b)
                time.sleep(0.001)

    with strata.Worker(chips=1, chip_threads=chip_threads) as w:
        k = w.register_kernel(fill, name="fill")
        w.init()
        out = w.create_buffer((4 * 256,), np.int64)
        tids = w.create_buffer((4,), np.int64)
        w.run(lambda o: o.submit(k, strata.TaskArgs().output_existing(out).output_existing(tids), block_dim=4))
        expected = np.arange(out.size) * 10 + np.repeat(np.arange(4), 256)
        np.testing.assert_array_equal(out, expected)
        chip_pid = _chip_pids(w)[0]
        if chip_threads == 1:
            assert set(tids.tolist()) == {chip_pid}  # the chip's main thread ran every block
        else:
            assert len(set(tids.tolist())) == 2 and chip_pid in set(tids.tolist())


def test_scalars_of_several_dtypes_reach_the_kernel():
    def read(ctx):
        out = ctx.tensor(0)
        out[0] = ctx.scalar(0)  # int -> int64
        out[1] = ctx.scalar(1, np.float32)  # float -> float32
        out[2] = ctx.scalar(2, np.float64)  # a numpy scalar keeps its dtype
        out[3] = ctx.scalar(3, np.int8)  # dtype= chooses
        out[4] = ctx.scalar(4, np.uint8)  # bool -> u8
        out[5] = ctx.scalar(5, np.int32)
        out[6] = ctx.scalar(6, np.uint64)
        out[7] = ctx.scalar(7, np.float16)
        out[8] = ctx.scalar_count

    with strata.Worker(chips=1) as w:
        k = w.register_kernel(read)
        w.init()
        out = w.create_buffer((9,), np.float64)
        args = strata.TaskArgs().output_existing(out).scalar(-3).scalar(2.5).scalar(np.float64(0.1))
        args.scalar(-1, dtype=np.int8).scalar(True).scalar(np.int32(-70000)).scalar(2**40, dtype=np.uint64)
        args.scalar(0.5, dtype=np.float16)
        w.run(lambda o: o.submit(k, args))
        np.testing.assert_array_equal(out, [-3, 2.5, 0.1, -1, 1, -70000, 2**40, 0.5, 8])


def test_a_raising_kernel_gives_task_error_with_the_python_type_and_traceback():
    def bad(ctx):
        raise ValueError("bad-value-7")

    def divide(ctx):
        if ctx.block_idx == 2:
            return 1 // 0
        ctx.tensor(0)[ctx.block_idx] = 1

    with strata.Worker(chips=1, chip_threads=2) as w:
        k = w.register_kernel(bad)
        d = w.register_kernel(divide, name="divide_blocks")
        w.init()
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit(k, strata.TaskArgs()))
        e = info.value
        assert e.exception_type == "ValueError"
        assert "bad-value-7" in e.message and "Traceback" in e.message and "in bad" in e.message
        assert e.task.name == "bad" and e.child_kind == "chip" and e.child_index == 0
        # A block on any of the chip's threads reports its exception the same way.
        out = w.create_buffer((4,), np.int64)
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit(d, strata.TaskArgs().output_existing(out), block_dim=4))
        e = info.value
        assert e.exception_type == "ZeroDivisionError" and e.task.name == "divide_blocks"
        assert "Traceback" in e.message and "1 // 0" in e.message
        # The chip survives a failed Python kernel.
        w.run(lambda o: o.submit(d, strata.TaskArgs().output_existing(out), block_dim=2))
        assert out[:2].tolist() == [1, 1]


def test_register_kernel_fn_after_init_is_refused():
    with strata.Worker(chips=1) as w:
        w.init()
        with pytest.raises(strata.UsageError, match="before init"):
            w.register_kernel(lambda ctx: None)
        with pytest.raises(strata.UsageError, match="no library"):
            w.register_kernel(lambda ctx: None, library="libx.so")
        with pytest.raises(strata.UsageError, match="neither"):
            w.register_kernel(42)


def test_python_and_cpp_kernels_chain_across_two_chips(kernel_lib):
    # x -> (Python, chip 0) y = 2x -> (C++ py_add, chip 1) z = y + 5 -> (Python, chip 1) z *= 3
    # -> (host callable) checks z.
    def double(ctx):
        ctx.tensor(1)[:] = ctx.tensor(0) * 2

    def triple(ctx):
        ctx.tensor(0)[:] *= 3

    def check(ctx):
        z = ctx.tensor(0)
        if not np.array_equal(z, (np.arange(z.size) * 2 + 5) * 3):
            raise AssertionError("z is wrong in the sub: %r" % z[:4])

    with strata.Worker(chips=2, sub_workers=1) as w:
        k_double = w.register_kernel(double)
        k_add = w.register_kernel("py_add", library=kernel_lib)
        k_triple = w.register_kernel(triple)
        h_check = w.register_host(check)
        w.init()
        n = 4096
        x = w.create_buffer((n,), np.int64)
        y = w.create_buffer((n,), np.int64)
        z = w.create_buffer((n,), np.int64)
        x[:] = np.arange(n)

        def orch(o):
            o.submit(k_double, strata.TaskArgs().input(x).output_existing(y), worker=0)
            o.submit(k_add, strata.TaskArgs().input(y).output_existing(z).scalar(5), worker=1, block_dim=2)
            o.submit(k_triple, strata.TaskArgs().inout(z), worker=1)
            o.submit_host(h_check, strata.TaskArgs().input(z))

        for _ in range(3):  # each run starts from the same x
            z[:] = 0
            w.run(orch)
            np.testing.assert_array_equal(y, np.arange(n) * 2)
            np.testing.assert_array_equal(z, (np.arange(n) * 2 + 5) * 3)


def test_print_in_a_python_kernel_reaches_a_pipe_once():
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        import strata
        print("before init")  # buffered (stdout is a pipe) when init() forks
        with strata.Worker(chips=1) as w:
            k = w.register_kernel(lambda ctx: print("from the chip", int(ctx.tensor(0).sum())))
            w.init()
            x = w.create_buffer((4,), np.int64)
            x[:] = 5
            w.run(lambda o: o.submit(k, strata.TaskArgs().input(x)))
        print("after close")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["before init", "from the chip 20", "after close"], out.stdout


def test_respawned_chip_runs_python_kernels_again():
    def work(ctx):
        if ctx.scalar(0) == 1:
            os._exit(3)  # the chip dies in the kernel
        ctx.tensor(0)[:] = os.getpid()

    with strata.Worker(chips=1, chip_threads=2) as w:
        k = w.register_kernel(work)
        w.init()
        out = w.create_buffer((4,), np.int64)
        first = _chip_pids(w)[0]
        with pytest.raises(strata.TaskError, match="chip 0 died"):
            w.run(lambda o: o.submit(k, strata.TaskArgs().output_existing(out).scalar(1)))
        w.respawn()  # the new chip is forked with the kernel and its Python prepared the same way
        w.run(lambda o: o.submit(k, strata.TaskArgs().output_existing(out).scalar(0), block_dim=4))
        second = _chip_pids(w)[0]
        assert second != first and out.tolist() == [second] * 4


def test_closing_a_worker_frees_its_python_kernels_places():
    def make(i):
        def kernel(ctx):
            ctx.tensor(0)[:] = i

        return kernel

    for _ in range(3):  # 3 x 40 Python kernels: more than the 64 places, which close() gives back
        with strata.Worker(chips=1) as w:
            ks = [w.register_kernel(make(i), name="k%d" % i) for i in range(40)]
            assert len({k.id for k in ks}) == 40
            f = make(0)
            assert w.register_kernel(f).id == w.register_kernel(f).id  # the same function: the same kernel
    with strata.Worker(chips=1) as w:
        for i in range(64):
            w.register_kernel(make(i))
        with pytest.raises(strata.UsageError, match="64 Python kernels"):
            w.register_kernel(make(64))


def test_a_domain_buffer_is_a_numpy_view_in_a_python_kernel():
    """A domain buffer passed to a Python kernel is, in the chip's process, a numpy view of that chip's
    window: what the kernel writes there is what copy_from reads back."""
    with strata.Worker(chips=2) as w:

        def fill(ctx):
            view = ctx.tensor(0)
            assert view.dtype == np.float32 and view.shape == (16,)
            assert (view == 0).all()  # a domain's windows start zeroed
            view[:] = np.arange(16, dtype=np.float32) * (ctx.worker_index + 1)

        k = w.register_kernel(fill)
        w.init()
        out = {chip: np.empty(16, np.float32) for chip in (0, 1)}

        def orch(o):
            spec = [strata.BufferSpec("acc", np.float32, 16)]
            with o.allocate_domain(name="d", workers=[0, 1], window_size=4096, buffers=spec) as d:
                for chip in d.workers:
                    o.submit(k, strata.TaskArgs().inout(d[chip].buffer("acc")), worker=chip)
                    o.copy_from(out[chip], d[chip].buffer("acc"))

        w.run(orch)
        for chip in (0, 1):
            np.testing.assert_array_equal(out[chip], np.arange(16, dtype=np.float32) * (chip + 1))
