"""What the Python examples share: where their kernel library is, and the check against numpy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

LIBRARY = "libstrata_py_example_kernels.so"


def kernel_library() -> str:
    """The examples' kernel library (kernels.cpp): $STRATA_EXAMPLE_KERNELS, else the one in a build tree
    of this checkout (build/release first)."""
    path = os.environ.get("STRATA_EXAMPLE_KERNELS")
    if path:
        return path
    build = Path(__file__).resolve().parents[2] / "build"
    found = sorted(build.glob(f"*/lib/{LIBRARY}"), key=lambda p: p.parts[-3] != "release")
    if not found:
        sys.exit(f"{LIBRARY} not found: build it (cmake --build --preset release) or set STRATA_EXAMPLE_KERNELS")
    return str(found[0])


class Checker:
    """Compares results with a numpy reference; finish() is the exit code (1 on any mismatch)."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.failures = 0

    def close(self, what: str, got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> None:
        """got ~= want elementwise (|got - want| <= atol + rtol * |want|)."""
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        ok = got.shape == want.shape and bool(np.allclose(got, want, rtol=rtol, atol=atol))
        self._report(ok, what, f"max |error| {err:.3g}")

    def exact(self, what: str, got: np.ndarray, want: np.ndarray) -> None:
        """got == want, every element."""
        ok = got.shape == want.shape and bool(np.array_equal(got, want))
        self._report(ok, what, f"{int(np.sum(got != want)) if got.shape == want.shape else 'shape'} differ")

    def _report(self, ok: bool, what: str, detail: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what} ({detail})")
        self.failures += 0 if ok else 1

    def finish(self) -> int:
        print(f"{self.program}: {'all checks passed' if self.failures == 0 else f'{self.failures} check(s) FAILED'}")
        return 0 if self.failures == 0 else 1
