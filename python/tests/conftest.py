"""Shared fixtures: the test kernel library, and a check that each test leaves nothing behind."""

import os
import time

import numpy  # noqa: F401  (its BLAS may start a thread pool at import: before any test counts threads)
import pytest


def _shm_entries():
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def _children():
    """Processes whose parent is this one (the Worker's chips and subs while it lives), zombies included:
    a child never reaped is a leak too."""
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
        if fields[1] == me:
            found.append(int(pid))
    return found


def _descriptors():
    return {fd: os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}


def _thread_count():
    return len(os.listdir("/proc/self/task"))


@pytest.fixture(autouse=True)
def no_leaks():
    """Fails a test that leaves a child process, a /dev/shm entry, a descriptor or a thread behind (what
    tests/support/leak_check.hpp checks for the C++ tests)."""
    shm_before = _shm_entries()
    fds_before = _descriptors()
    threads_before = _thread_count()
    yield
    deadline = time.monotonic() + 2.0
    while _children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() == [], "child processes left running"
    assert _shm_entries() - shm_before == set(), "entries left in /dev/shm"
    new_fds = {fd: path for fd, path in _descriptors().items() if fds_before.get(fd) != path}
    new_fds.pop(next((fd for fd, path in new_fds.items() if path.endswith(f"/proc/{os.getpid()}/fd")), None), None)
    assert new_fds == {}, "descriptors left open"
    assert _thread_count() == threads_before, "threads left running"


@pytest.fixture
def kernel_lib():
    """Path of the test kernel library (python/tests/test_kernels.cpp), set by CTest."""
    path = os.environ.get("STRATA_PY_TEST_KERNELS")
    if not path:
        pytest.skip("STRATA_PY_TEST_KERNELS is not set (run through ctest)")
    return path
