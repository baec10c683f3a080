"""Communication domains from Python: handles as context managers, the collective helpers, the shipped
kernels submitted directly."""

import numpy as np
import pytest

import strata


def test_allreduce_helper_matches_numpy():
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(1000).astype(np.float32) for _ in range(3)]
    with strata.Worker(chips=3) as w:
        w.init()
        results = {}

        def orch(o):
            spec = [strata.BufferSpec("grad", np.float32, 1000)]
            with o.allocate_domain(name="dp", workers=[0, 1, 2], window_size=1 << 16, buffers=spec) as dp:
                assert dp.workers == [0, 1, 2] and dp.size == 3
                for chip in dp.workers:
                    o.copy_to(dp[chip].buffer("grad"), inputs[chip])
                o.allreduce(dp, "grad", op=strata.ReduceOp.Sum)
                for chip in dp.workers:
                    out = np.empty(1000, np.float32)
                    o.copy_from(out, dp[chip].buffer("grad"))
                    results[chip] = out
            assert dp.released

        w.run(orch)
        assert w.live_domains() == []
        # Each element is combined in rank order, so every rank holds the same bits.
        expected = (inputs[0] + inputs[1]) + inputs[2]
        for chip in range(3):
            np.testing.assert_allclose(results[chip], expected, rtol=1e-6)
            np.testing.assert_array_equal(results[chip], results[0])


def test_seed_shape_kernel_per_chip_with_device_ctx():
    with strata.Worker(chips=2) as w:
        ar = w.register_kernel("strata_allreduce")
        w.init()
        seen = {}

        def orch(o):
            spec = [strata.BufferSpec("scratch", np.int64, 64)]
            with o.allocate_domain(name="tp", workers=[1, 0], window_size=1 << 16, buffers=spec) as tp:
                contexts = [tp[chip] for chip in tp.workers]
                assert [c.rank for c in contexts] == [0, 1] and {c.size for c in contexts} == {2}
                assert len({c.device_ctx for c in contexts}) == 2
                assert all(c.window_size >= 64 * 8 for c in contexts)
                for chip in tp.workers:
                    o.copy_to(tp[chip].buffer("scratch"), np.full(64, chip + 1, np.int64))
                for chip in tp.workers:
                    args = strata.TaskArgs().inout(tp[chip].buffer("scratch")).scalar(tp[chip].device_ctx)
                    o.submit(ar, args, worker=chip)
                out = np.empty(64, np.int64)
                o.copy_from(out, tp[0].buffer("scratch"))
                seen["out"] = out
                seen["live"] = [d.name for d in w.live_domains()]

        w.run(orch)
        assert seen["live"] == ["tp"]
        np.testing.assert_array_equal(seen["out"], np.full(64, 3))
        assert w.live_domains() == []


def test_released_domain_refuses_use_and_bad_specs_are_usage_errors():
    with strata.Worker(chips=2) as w:
        w.init()

        def orch(o):
            d = o.allocate_domain(name="a", workers=[0, 1], window_size=4096)
            d.release()
            with pytest.raises(strata.UsageError):
                d[0]
            with pytest.raises(strata.UsageError):
                o.allocate_domain(name="b", workers=[0, 7], window_size=4096)
            with o.allocate_domain(name="c", workers=[0], window_size=4096,
                                   buffers=[strata.BufferSpec("x", np.float32, 4)]) as c:
                with pytest.raises(strata.UsageError, match="bytes"):
                    o.copy_to(c[0].buffer("x"), np.zeros(5, np.float32))
                with pytest.raises(strata.UsageError):
                    c[0].buffer("nope")

        w.run(orch)
        assert w.live_domains() == []


def test_the_other_collective_helpers_match_numpy():
    n = 8
    with strata.Worker(chips=2) as w:
        w.init()
        got = {}

        def orch(o):
            spec = [strata.BufferSpec(name, np.int32, n) for name in ("b", "s", "r", "g", "a", "t")]
            with o.allocate_domain(name="c", workers=[0, 1], window_size=1 << 16, buffers=spec) as d:
                for chip in d.workers:
                    o.copy_to(d[chip].buffer("b"), np.full(n, 10 + chip, np.int32))
                    o.copy_to(d[chip].buffer("s"), np.arange(n, dtype=np.int32) * (chip + 1))
                    o.copy_to(d[chip].buffer("g"), np.full(n, chip + 1, np.int32))
                    o.copy_to(d[chip].buffer("a"), np.arange(n, dtype=np.int32) + 100 * chip)
                o.broadcast(d, "b", root=1)
                o.reduce_scatter(d, "s", "r", op=strata.ReduceOp.Max)
                o.allgather(d, "g")
                o.alltoall(d, "a", "t")
                for chip in d.workers:
                    for name in ("b", "r", "g", "t"):
                        out = np.empty(n, np.int32)
                        o.copy_from(out, d[chip].buffer(name))
                        got[chip, name] = out

        w.run(orch)
        half = n // 2
        reduced = np.maximum(np.arange(n) * 1, np.arange(n) * 2)
        for chip in (0, 1):
            np.testing.assert_array_equal(got[chip, "b"], np.full(n, 11))
            np.testing.assert_array_equal(got[chip, "r"][:half], reduced[chip * half : (chip + 1) * half])
            np.testing.assert_array_equal(got[chip, "g"], [1] * half + [2] * half)
            # Chunk p of rank r's send went to chunk r of rank p's receive buffer.
            expected = np.concatenate([np.arange(n)[chip * half : (chip + 1) * half] + 100 * r for r in (0, 1)])
            np.testing.assert_array_equal(got[chip, "t"], expected)


def test_submit_group_runs_one_part_per_chip(kernel_lib):
    with strata.Worker(chips=2) as w:
        scale = w.register_kernel("py_scale", library=kernel_lib)
        w.init()
        x = w.create_buffer((2, 16), np.float32)
        x[:] = 1.0
        parts = [strata.TaskArgs().inout(x[0]).scalar(2.0), strata.TaskArgs().inout(x[1]).scalar(5.0)]
        w.run(lambda o: o.submit_group(scale, parts, workers=[0, 1], block_dim=2))
        np.testing.assert_array_equal(x[0], 2.0)
        np.testing.assert_array_equal(x[1], 5.0)


def test_seed_lifecycle_with_exit_release_ids_monotonic_with_name_reuse_duplicate_name_refused():
    """The seed's domain tests: each member gets its own context; leaving the `with` block releases the
    domain; a name can be reused once released and the new allocation has a larger id; a second live
    domain of the same name is refused."""
    with strata.Worker(chips=3) as w:
        w.init()
        seen = {}

        def orch(o):
            ids = []
            with o.allocate_domain(name="tp", workers=[0, 1, 2], window_size=4096) as tp:
                contexts = [tp[c] for c in tp.workers]
                assert [c.rank for c in contexts] == [0, 1, 2]
                assert len({c.device_ctx for c in contexts}) == 3 and len({c.window_base for c in contexts}) == 3
                ids.append(tp.allocation_id)
                assert [d.name for d in w.live_domains()] == ["tp"]
                with pytest.raises(strata.UsageError, match="tp"):
                    o.allocate_domain(name="tp", workers=[0, 1], window_size=4096)
            assert tp.released
            assert w.live_domains() == []  # no task used it: released at once
            for _ in range(2):
                with o.allocate_domain(name="tp", workers=[1, 2], window_size=4096) as again:
                    ids.append(again.allocation_id)
                    live = w.live_domains()
                    assert [(d.name, d.allocation_id, list(d.workers)) for d in live] == [
                        ("tp", again.allocation_id, [1, 2])]
            seen["ids"] = ids

        w.run(orch)
        assert seen["ids"] == sorted(seen["ids"]) and len(set(seen["ids"])) == 3
        assert w.live_domains() == []
