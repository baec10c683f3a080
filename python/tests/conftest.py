"""Shared fixtures: the test kernel library, and a check that each test leaves nothing behind."""

import os
import time

import pytest


def _shm_entries():
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def _children():
    """Processes whose parent is this one (the Worker's chips and subs while it lives)."""
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[1] == me and fields[0] != "Z":
            found.append(int(pid))
    return found


@pytest.fixture(autouse=True)
def no_leaks():
    """Fails a test that leaves a child process or a /dev/shm entry behind."""
    shm_before = _shm_entries()
    yield
    deadline = time.monotonic() + 2.0
    while _children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() == [], "child processes left running"
    assert _shm_entries() - shm_before == set(), "entries left in /dev/shm"


@pytest.fixture
def kernel_lib():
    """Path of the test kernel library (python/tests/test_kernels.cpp), set by CTest."""
    path = os.environ.get("STRATA_PY_TEST_KERNELS")
    if not path:
        pytest.skip("STRATA_PY_TEST_KERNELS is not set (run through ctest)")
    return path
