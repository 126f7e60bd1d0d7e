"""Probe for the next session (not collected by pytest): Ctrl-C on a blocked listing, 8 trials in-process and
through the preload server. Run: .venv/bin/python -m pytest -q -s tests/probe_sigint.py (with some CPU load beside it)."""
import signal, time, collections
from tests.test_preload import _blocked_caller, _drain, home  # noqa: F401

def test_probe(home):
    home.warm()
    seen = collections.Counter()
    for trial in range(8):
        for preload in (False, True):
            caller, read_end, _ = _blocked_caller(home, preload)
            time.sleep(0.5)
            caller.send_signal(signal.SIGINT)
            _drain(read_end)
            err = caller.stderr.read()
            caller.wait(timeout=60)
            seen[preload, caller.returncode, err[:60]] += 1
    for k, v in sorted(seen.items(), key=str):
        print("OUTCOME", k, v)
