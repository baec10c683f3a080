"""`python3 -m strata info` and `python3 -m strata.bench dispatch`: the same output as the `strata` tool's
(its path comes from CTest in STRATA_TOOL)."""

import json
import os
import subprocess
import sys

import pytest


def _tool():
    path = os.environ.get("STRATA_TOOL")
    if not path:
        pytest.skip("STRATA_TOOL is not set (run through ctest)")
    return path


def _run(args, env=None):
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_info_json_equals_the_tools():
    ours = json.loads(_run([sys.executable, "-m", "strata", "info", "--json"]))
    theirs = json.loads(_run([_tool(), "info", "--json"]))
    assert ours == theirs
    assert ours["version"] and ours["tunables"] and ours["default_backend"]


def test_info_text_equals_the_tools_also_with_a_tunable_set():
    env = dict(os.environ, STRATA_TASK_RING="2048")
    ours = _run([sys.executable, "-m", "strata", "info"], env)
    assert ours == _run([_tool(), "info"], env)
    assert ours.startswith("strata ") and "STRATA_TASK_RING" in ours and " *" in ours
    assert json.loads(_run([sys.executable, "-m", "strata", "info", "--json"], env)) == json.loads(
        _run([_tool(), "info", "--json"], env))


def test_info_from_the_module_and_a_wrong_command_line():
    import strata

    assert strata._strata.info_json() == _run([_tool(), "info", "--json"]).rstrip("\n")
    wrong = subprocess.run([sys.executable, "-m", "strata", "nosuch"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "nosuch" in wrong.stderr
    bare = subprocess.run([sys.executable, "-m", "strata"], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "usage" in bare.stderr


def test_bench_dispatch_prints_the_tools_fields():
    small = ["--chips", "2", "--tasks", "20", "--reps", "1", "--roundtrips", "3"]
    ours = json.loads(_run([sys.executable, "-m", "strata.bench", "dispatch", *small]))
    theirs = json.loads(_run([_tool(), "bench", "dispatch", *small]))
    assert list(ours) == list(theirs)
    assert ours["bench"] == "dispatch" and ours["version"] == theirs["version"]
    assert (ours["chips"], ours["tasks"], ours["reps"], ours["roundtrips"]) == (2, 20, 1, 3)
    for field in ("chain_us_per_task", "independent_tasks_per_s", "roundtrip_us_median", "roundtrip_us_p99"):
        assert isinstance(ours[field], (int, float)) and ours[field] > 0


def test_bench_refuses_a_wrong_command_line():
    out = subprocess.run([sys.executable, "-m", "strata.bench", "dispatch", "--tasks", "0"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "--tasks" in out.stderr


def test_a_taskargs_submitted_again_and_again_and_wrong_args(kernel_lib):
    """The submit path the benchmark times: one TaskArgs reused by every submit (kept alive once), the dict
    each submit returns, and what is not a TaskArgs refused."""
    import weakref

    import numpy as np

    import strata

    with strata.Worker(chips=2) as w:
        add = w.register_kernel("py_add", library=kernel_lib)
        w.init()
        y = w.create_buffer((64,), np.int64)
        seen = {}

        def orch(o):
            x = w.create_buffer((64,), np.int64)
            x[:] = 5
            seen["x"] = weakref.ref(x)
            args = strata.TaskArgs().input(x).output_existing(y).scalar(2)
            refs = [o.submit(add, args, c % 2) for c in range(6)]
            seen["ids"] = [r["id"] for r in refs]
            seen["tensors"] = [len(r["tensors"]) for r in refs]
            with pytest.raises(strata.UsageError, match="TaskArgs"):
                o.submit(add, [x, y])
            with pytest.raises(strata.UsageError, match="None"):
                o.submit(add, None)
            with pytest.raises(strata.UsageError, match="TaskArgs"):
                o.submit_group(add, [args, "nope"], [0, 1])

        w.run(orch)
        np.testing.assert_array_equal(y, np.full(64, 7))
        assert len(set(seen["ids"])) == 6 and seen["tensors"] == [2] * 6
        assert seen["x"]() is None  # released when run() returned
