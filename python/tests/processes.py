"""Helpers the tests share for the processes of a Worker."""

import time


def wait_gone(pid):
    """Waits until process `pid` has exited (a zombie until the Worker reaps it), at most 20 s."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            return
        # The command may hold spaces and parentheses: the fields after the last ')' are fixed.
        if stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


def child(w, kind, index):
    """The status() entry of child `index` of `kind` ("chip", "sub", "worker")."""
    return next(c for c in w.status()["children"] if c["kind"] == kind and c["index"] == index)
