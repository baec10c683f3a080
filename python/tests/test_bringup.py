"""Bring-up from Python: per-chip ranks, windows and named buffers set up by init(), numpy inputs loaded
before it returns, numpy outputs stored back by store_outputs() and close(), and the validation."""

import gc
import weakref

import numpy as np
import pytest

import strata

N = 256  # f32 elements of "x"
ACC = 40  # i64 elements of "acc"


def inputs_of(chip):
    return np.arange(N, dtype=np.float32) + 1000 * chip  # integers: sums are exact


def entry(chip, rank, **overrides):
    fields = dict(
        rank=rank,
        window_size=1 << 16,
        buffers=[strata.BufferSpec("x", np.float32, N), strata.BufferSpec("acc", np.int64, ACC)],
        inputs={"x": inputs_of(chip)},
    )
    fields.update(overrides)
    return strata.ChipBringup(**fields)


def test_inputs_loaded_allreduce_on_the_bringup_domain_outputs_stored_back():
    outs = [np.full(N, -1, np.float32) for _ in range(2)]
    # Chip i has rank 1 - i; the second entry is given as a dict of the fields.
    bringup = [
        entry(0, 1, outputs={"x": outs[0]}),
        dict(rank=0, window_size=1 << 16, inputs={"x": inputs_of(1)}, outputs={"x": outs[1]},
             buffers=[strata.BufferSpec("x", np.float32, N), strata.BufferSpec("acc", np.int64, ACC)]),
    ]
    with strata.Worker(chips=2, bringup=bringup) as w:
        ar = w.register_kernel("strata_allreduce")
        with pytest.raises(strata.UsageError, match="init"):
            w.chip_contexts()
        w.init()
        ctxs = w.chip_contexts()
        assert [c.rank for c in ctxs] == [1, 0] and [c.chip for c in ctxs] == [0, 1]
        assert {c.size for c in ctxs} == {2} and len({c.device_ctx for c in ctxs}) == 2
        assert all(c.domain == "" and c.window_size >= 1 << 16 for c in ctxs)
        assert ctxs[1].buffer("x").count == N and ctxs[1].buffer("x").chip == 1
        assert ctxs[0].buffer("acc").dtype == strata.DType.I64
        # Stored before any run: the outputs are the inputs init() loaded.
        w.store_outputs()
        for chip in range(2):
            np.testing.assert_array_equal(outs[chip], inputs_of(chip))

        loaded = [np.empty(N, np.float32) for _ in range(2)]

        def orch(o):
            for chip in range(2):
                o.copy_from(loaded[chip], ctxs[chip].buffer("x"))
            for chip in range(2):
                args = strata.TaskArgs().inout(ctxs[chip].buffer("x")).scalar(ctxs[chip].device_ctx)
                o.submit(ar, args, worker=chip)

        w.run(orch)
        for chip in range(2):
            np.testing.assert_array_equal(loaded[chip], inputs_of(chip))
        total = inputs_of(0) + inputs_of(1)
        w.store_outputs()
        for chip in range(2):
            np.testing.assert_array_equal(outs[chip], total)

        w.run(orch)  # not stored by hand: close() stores it
    for chip in range(2):
        np.testing.assert_array_equal(outs[chip], 2 * total)


def test_output_arrays_are_kept_alive_until_close():
    out = np.zeros(ACC, np.int64)
    ref = weakref.ref(out)
    w = strata.Worker(chips=1, bringup=[entry(0, 0, outputs={"acc": out})])
    del out
    gc.collect()
    assert ref() is not None, "the Worker must keep an output array it will write into"
    w.init()
    w.close()
    gc.collect()
    assert ref() is None, "released once the Worker is closed"


def test_failing_kernel_on_the_bringup_domain_and_a_chip_failing_its_bringup(kernel_lib, monkeypatch):
    with strata.Worker(chips=2, bringup=[entry(0, 0), entry(1, 1)]) as w:
        fail = w.register_kernel("py_fail", library=kernel_lib)
        w.init()
        ctxs = w.chip_contexts()
        with pytest.raises(strata.TaskError) as info:
            w.run(lambda o: o.submit(fail, strata.TaskArgs().inout(ctxs[1].buffer("x")).scalar(7), worker=1))
        assert info.value.message == "py_fail 7" and info.value.child_index == 1
        # A failed run does not sweep the bring-up domain: it lives until close().
        back = np.empty(N, np.float32)
        w.run(lambda o: o.copy_from(back, ctxs[1].buffer("x")))
        np.testing.assert_array_equal(back, inputs_of(1))

    monkeypatch.setenv("STRATA_SIM_FAULTS", "fail_window_alloc=1")
    w = strata.Worker(chips=2, bringup=[entry(0, 0), entry(1, 1)])
    with pytest.raises(strata.Error, match="bring-up of chip 1 failed: .*window allocation refused"):
        w.init()
    assert not w.initialized
    w.close()


@pytest.mark.parametrize(
    "edit, needles",
    [
        # an input of another size than its buffer: the chip, the buffer and both sizes
        (lambda b: b[1].inputs.update(x=np.zeros(N + 1, np.float32)),
         ["bring-up of chip 1", "'x'", f"has {4 * (N + 1)} bytes", f"holds {4 * N}"]),
        (lambda b: b[1].inputs.update(x=np.zeros(16, np.float32)),
         ["bring-up of chip 1", "input for 'x' has 64 bytes", f"holds {4 * N}", "exactly"]),
        # an output of another size than its buffer
        (lambda b: b[0].outputs.update(acc=np.zeros(8, np.int64)),
         ["bring-up of chip 0", "output for 'acc' gives 64 bytes", f"holds {8 * ACC}"]),
        # a chip whose buffers overflow its window
        (lambda b: setattr(b[1], "window_size", 4 * N),
         ["bring-up of chip 1", "buffer 'acc'", "overflows the window"]),
        (lambda b: b[0].inputs.update(nope=np.zeros(4, np.int8)), ["bring-up of chip 0", "unknown buffer 'nope'"]),
        (lambda b: b[1].outputs.update(x=np.zeros((N, 2), np.float32)[:, 0]),
         ["bringup[1].outputs['x']", "C-contiguous"]),
        (lambda b: b[1].outputs.update(x=[0.0] * N), ["bringup[1].outputs['x']", "numpy array"]),
        (lambda b: b.pop(), ["1 entries for 2 chips"]),
    ],
)
def test_configurations_are_validated_with_messages_naming_the_chip(edit, needles):
    bringup = [entry(0, 0), entry(1, 1)]
    edit(bringup)
    with pytest.raises(strata.UsageError) as info:
        with strata.Worker(chips=2, bringup=bringup) as w:
            w.init()
    for n in needles:
        assert n in str(info.value), (n, str(info.value))


def test_chip_contexts_and_store_outputs_without_bringup_are_refused():
    with strata.Worker(chips=1) as w:
        w.init()
        with pytest.raises(strata.UsageError, match="bringup"):
            w.chip_contexts()
        with pytest.raises(strata.UsageError, match="no bring-up configuration"):
            w.store_outputs()
    with pytest.raises(strata.UsageError, match="bringup\\[0\\]"):
        strata.Worker(chips=1, bringup=[dict(rank=0, window_size=4096, bogus=1)])
