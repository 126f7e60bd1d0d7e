"""Loaded by every Python process of the faketime re-runs in .ci/run (through PYTHONPATH), never otherwise.

Debian's libfaketime 0.9.10 fakes the wall clock as wanted, but: if it also fakes CLOCK_MONOTONIC, timed
lock and Event waits (sem_clockwait) hang forever; with FAKETIME_DONT_FAKE_MONOTONIC=1 they work, but
time.sleep (an absolute clock_nanosleep on CLOCK_MONOTONIC) fails with EINVAL. So the re-runs keep the
monotonic clock real and sleep on an Event, which waits on that real monotonic clock.
"""

import os
import threading
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(seconds)

    time.sleep = _sleep
