"""No duplicate sends without a crash (issue 12, point 4).

Two daemons share the outbox and the SMTP server is slow: each message takes longer than the lease
divided by the batch, so a batch outlasts its lease. A pump renews the claims it still holds after
every message, so the other pump never takes over a claim whose owner is still working.
"""

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time

from tests.conftest import use_smtp, wait_for
from tests.smtp_server import Recorder, SmtpServer
from notifications.delivery import BATCH, lease_for


def test_two_daemons_and_a_slow_server_send_each_message_once(seeded, tmp_path):
    delay = 0.8  # per message; with the 5 s timeout below the lease is 15 s, so a batch of 20 (16 s) outlasts it
    expected = len(seeded.json("remind", "--dry-run", "--today", "2020-09-23"))
    assert expected > BATCH  # more than one batch, so both pumps work at once
    server = SmtpServer(recorder=Recorder(delay=delay)).start()
    try:
        use_smtp(seeded, server.port, pump_every_seconds=1, lease_seconds=1)
        # a timeout well above the server's delay: a reply that comes after the timeout leaves delivery unknown, and the
        # message is retried (with the same Message-ID), which is SMTP's own duplicate, not the lease's
        seeded.write_config(seeded.config.read_text().split("\n", 2)[2] + '\n[reminders]\ncheck_time = "00:00"\n')
        lease = lease_for(dt.timedelta(seconds=1), 5).total_seconds()
        assert delay > lease / BATCH and delay * BATCH > lease  # a batch takes longer than its lease
        env = {**os.environ, "TRACKER_CONFIG": str(seeded.config)}
        command = [sys.executable, "-c", "from tracker.cli.app import main; main()", "run", "--today", "2020-09-23"]
        logs = [tmp_path / f"daemon{n}.log" for n in (1, 2)]
        daemons = [subprocess.Popen(command, env=env, cwd=seeded.home, stdout=log.open("w"), stderr=subprocess.STDOUT)
                   for log in logs]
        try:
            assert wait_for(lambda: len(set(server.recorder.message_ids())) >= expected, 120)
            time.sleep(lease + 2)  # more passes of both pumps, past every lease
        finally:
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            codes = [daemon.wait(timeout=60) for daemon in daemons]
        assert codes == [0, 0], [log.read_text() for log in logs]
    finally:
        server.stop()
    received = collections.Counter(server.recorder.message_ids())
    assert len(received) == expected
    assert [i for i, n in received.items() if n > 1] == []
    outbox = seeded.json("outbox", "list")
    assert len(outbox) == expected and {m["state"] for m in outbox} == {"sent"}
    assert {m["message_id"] for m in outbox} == set(received)
    senders = [sum("已发给" in line for line in log.read_text().splitlines()) for log in logs]
    assert sum(senders) == expected
