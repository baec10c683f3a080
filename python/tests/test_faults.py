"""Faults from outside during a Python run: a chip killed (SIGKILL) at a random moment of a long stream of
tasks. run() must fail naming the chip (or, if the kill came after the last task, the next call must),
never hang, and leave nothing behind; respawn() then gives a Worker that runs correctly again. Each
attempt runs under a watchdog that dumps every thread's stack and exits if it hangs."""

import faulthandler
import os
import random
import signal
import threading

import numpy as np
import pytest

import strata
from processes import child, wait_gone

ATTEMPTS = 6
WATCHDOG_S = 60


@pytest.fixture
def watchdog():
    """Arms faulthandler's watchdog (a thread: armed after init(), which refuses other threads)."""
    yield lambda: faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("attempt", range(ATTEMPTS))
def test_a_chip_killed_at_a_random_moment_fails_the_run_naming_it(kernel_lib, watchdog, attempt):
    rng = random.Random(attempt)
    victim = rng.randrange(2)
    with strata.Worker(chips=2, sub_workers=1) as w:
        add = w.register_kernel("py_add", library=kernel_lib)
        w.init()
        watchdog()
        x = w.create_buffer((2, 64), np.int64)
        tasks = 20000

        def stream(o):
            # A chain per chip: each task adds 1 to its chip's row in place.
            for i in range(tasks):
                chip = i % 2
                o.submit(add, strata.TaskArgs().input(x[chip]).output_existing(x[chip]).scalar(1), worker=chip)

        x[:] = 0
        pid = child(w, "chip", victim)["pid"]
        killer = threading.Timer(rng.uniform(0.0, 0.1), lambda: os.kill(pid, signal.SIGKILL))
        killer.start()
        try:
            w.run(stream)
            finished = True
        except strata.Error as e:
            finished = False
            assert f"chip {victim}" in str(e), str(e)
        finally:
            killer.join()
        wait_gone(pid)
        if finished:
            # The kill came after the run's last task: the next call notices the death.
            with pytest.raises(strata.ChildDiedError, match=f"chip {victim}"):
                w.run(lambda o: None)
        else:
            # The run did not go through: the survivor's chain went as far as it did, in order.
            assert (x[1 - victim] == x[1 - victim][0]).all()

        faulthandler.cancel_dump_traceback_later()  # respawn() forks: no other thread then
        w.respawn()
        watchdog()
        x[:] = 0
        w.run(stream)
        np.testing.assert_array_equal(x, np.full((2, 64), tasks // 2))
