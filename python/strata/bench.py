"""`python3 -m strata.bench dispatch`: the cost of an empty task submitted from Python.

The same measurements and JSON fields as `strata bench dispatch` (bench/dispatch), with the orchestration
functions written in Python, so the difference between the two is what the Python front end costs:

  chain_us_per_task        M tasks chained by INOUT on one tensor, task i on chip i % N (median of R runs)
  independent_tasks_per_s  M tasks without tensors on any chip (median of R runs)
  roundtrip_us_median      a run() of one task, submit to completion (median of K; also the p99)

Each figure is the wall time of whole Worker.run() calls (submit + drain). The TaskArgs are built once and
reused by every submit, as a Python program that submits the same kind of task in a loop would. Prints
one JSON object on stdout; exits 1 if the chain lost or overlapped tasks, 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

import strata


def _quantile(values: List[float], q: float) -> float:
    """The q-quantile as the C++ benchmarks take it (bench/common/bench_common.hpp)."""
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def _time_run(w: strata.Worker, fn: Callable[[strata.Orchestrator], None]) -> float:
    t0 = time.perf_counter()
    w.run(fn)
    return time.perf_counter() - t0


def dispatch(chips: int = 2, tasks: int = 10000, reps: int = 5, roundtrips: int = 1000) -> Dict[str, Any]:
    """Runs the dispatch benchmark on `chips` simulated chips; returns the fields `strata bench dispatch`
    prints. Raises RuntimeError if the chain counted a wrong number of tasks."""
    n, m = chips, tasks
    with strata.Worker(chips=n) as w:
        noop = w.register_kernel("strata_py_bench_noop")
        count = w.register_kernel("strata_py_bench_count")
        w.init()
        cell = w.create_buffer((8,), np.uint64)
        chain_args = strata.TaskArgs().inout(cell[:1])
        empty_args = strata.TaskArgs()

        def chain(o: strata.Orchestrator) -> None:
            submit = o.submit
            for i in range(m):
                submit(count, chain_args, i % n)

        def independent(o: strata.Orchestrator) -> None:
            submit = o.submit
            for _ in range(m):
                submit(noop, empty_args)

        def one(o: strata.Orchestrator) -> None:
            o.submit(noop, empty_args, 0)

        # One untimed run of each first: page faults in the rings and the children's first wake-ups.
        _time_run(w, chain)
        _time_run(w, independent)
        for _ in range(10):
            _time_run(w, one)
        chain_s: List[float] = []
        indep_s: List[float] = []
        for _ in range(reps):
            chain_s.append(_time_run(w, chain))
            indep_s.append(_time_run(w, independent))
        rt_s = [_time_run(w, one) for _ in range(roundtrips)]
        counted = int(cell[0])
    expected = m * (reps + 1)
    if counted != expected:
        raise RuntimeError(f"the chain counted {counted} tasks, expected {expected}: tasks were lost or overlapped")

    chain_med, chain_min = _quantile(chain_s, 0.5), _quantile(chain_s, 0.0)
    indep_med, indep_min = _quantile(indep_s, 0.5), _quantile(indep_s, 0.0)
    return {
        "bench": "dispatch",
        "version": strata.__version__,
        "chips": n,
        "tasks": m,
        "reps": reps,
        "chain_us_per_task": round(chain_med / m * 1e6, 3),
        "chain_us_per_task_min": round(chain_min / m * 1e6, 3),
        "independent_tasks_per_s": round(m / indep_med),
        "independent_tasks_per_s_max": round(m / indep_min),
        "independent_us_per_task": round(indep_med / m * 1e6, 3),
        "roundtrips": roundtrips,
        "roundtrip_us_median": round(_quantile(rt_s, 0.5) * 1e6, 3),
        "roundtrip_us_p99": round(_quantile(rt_s, 0.99) * 1e6, 3),
    }


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python3 -m strata.bench",
                                     description="strata's benchmarks with Python orchestration functions; each "
                                     "prints one JSON object on stdout.")
    benchmarks = parser.add_subparsers(dest="bench", metavar="benchmark")
    d = benchmarks.add_parser("dispatch", help="cost of an empty task submitted from Python: chained across chips, "
                              "independent, and one-task round trip", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--chips", type=_positive, default=2, help="chips (default 2)")
    d.add_argument("--tasks", type=_positive, default=10000, help="tasks per chain / independent run (default 10000)")
    d.add_argument("--reps", type=_positive, default=5, help="runs of each (default 5)")
    d.add_argument("--roundtrips", type=_positive, default=1000, help="one-task runs (default 1000)")
    d.add_argument("--progress", action="store_true",
                   help="accepted so that `strata bench dispatch`'s flags work here too; prints no progress")
    args = parser.parse_args(argv)
    if args.bench != "dispatch":
        parser.print_usage(sys.stderr)
        return 2
    try:
        result = dispatch(args.chips, args.tasks, args.reps, args.roundtrips)
    except (strata.Error, RuntimeError) as e:
        print(f"python3 -m strata.bench dispatch: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
