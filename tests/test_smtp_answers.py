"""Issue 12 point 6: SMTP answers are classified right and explained.

Real aiosmtpd servers on localhost: plain, implicit TLS and STARTTLS with a self-signed
certificate made for the test, one that refuses logins (535) or cannot check them now (454),
one that refuses one recipient. A problem of the settings or the server stops the pass and
charges no message; a refused recipient is recorded and shown; `run --once` exits 1 when a
message failed for good.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from notifications.delivery import DeliveryPolicy
from tests.conftest import use_smtp
from tests.smtp_server import Recorder, free_port
from tracker.config import MailSettings
from tracker.outbox import retry_delay


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def _serve(**options) -> Controller:
    controller = Controller(options.pop("handler", Recorder()), hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


def _run(cli) -> tuple[int, dict, str]:
    result = cli("run", "--once", "--today", "2020-09-23", "--json", ok=False)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def _outbox(cli) -> list[dict]:
    return cli.json("outbox", "list")


def _nothing_charged(cli) -> None:
    rows = _outbox(cli)
    assert len(rows) == 29 and {(m["state"], m["attempts"]) for m in rows} == {("pending", 0)}


@pytest.mark.parametrize("setup, words", [
    ("self-signed", "自签名证书"),
    ("tls-on-plain", "不使用直接 TLS 加密"),
    ("no-starttls", "没有提供 STARTTLS"),
])
def test_tls_problems_each_have_their_own_explanation_and_charge_no_message(seeded, self_signed, setup, words):
    if setup == "self-signed":
        server, mail = _serve(ssl_context=self_signed), {"tls": True}
    else:
        server, mail = _serve(), {"tls": True} if setup == "tls-on-plain" else {"starttls": True}
    try:
        use_smtp(seeded, server.port)
        seeded.config.write_text(seeded.config.read_text("utf-8") + "".join(f"{k} = true\n" for k in mail), "utf-8")
        code, report, stderr = _run(seeded)
        assert code == 1 and words in stderr and "发送已暂停" in stderr
        assert report["delivery"]["failed"] == 0 and words in report["delivery"]["halted"]
        _nothing_charged(seeded)
        assert all(words in m["last_error"] for m in _outbox(seeded) if m["last_error"])
    finally:
        server.stop()


@dataclass
class _Login:
    """Accepts one user and password; ``answer`` scripts a refusal (535 wrong password, 454 try later)."""

    answer: str | None = None
    seen: list[bytes] = field(default_factory=list)

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.seen.append(auth_data.login)
        if self.answer:
            return AuthResult(success=False, handled=False, message=self.answer)
        return AuthResult(success=auth_data.password == b"right", handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_refused_login_stops_the_pass_and_keeps_every_message(seeded, monkeypatch):
    login = _Login()
    recorder = Recorder()
    server = _serve(handler=recorder, authenticator=login, auth_require_tls=False, auth_required=True)
    try:
        use_smtp(seeded, server.port)
        seeded.config.write_text(seeded.config.read_text("utf-8") + 'user = "tracker"\n', "utf-8")
        monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "wrong")
        code, report, stderr = _run(seeded)
        assert code == 1 and "拒绝了用户名或密码（535" in stderr and "不会被标记为失败" in stderr
        assert report["delivery"]["failed"] == 0
        _nothing_charged(seeded)
        login.answer = "454 4.7.0 Temporary authentication failure"
        code, report, stderr = _run(seeded)
        assert code == 1 and "暂时无法验证登录（454" in stderr and "拒绝了用户名或密码" not in stderr
        _nothing_charged(seeded)
        login.answer = None
        monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "right")
        code, report, _ = _run(seeded)
        assert code == 0 and report["delivery"]["sent"] == 29 and len(recorder.messages) == 29
    finally:
        server.stop()


class _RefusingRecorder(Recorder):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@wuding.example>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_refused_recipient_is_recorded_and_shown(seeded):
    recorder = _RefusingRecorder()
    server = _serve(handler=recorder)
    try:
        seeded("units", "set", "县财政局", "--email", "czj@wuding.example", "--email", "nobody@wuding.example")
        use_smtp(seeded, server.port)
        code, report, _ = _run(seeded)
        assert code == 0 and report["delivery"]["sent"] == 29
        assert any("nobody@wuding.example（550" in e for e in report["delivery"]["errors"])
    finally:
        server.stop()
    [partly] = [m for m in _outbox(seeded) if m["refused"]]
    assert partly["recipient"] == "县财政局" and partly["state"] == "sent" and "nobody@wuding.example（550" in partly["refused"]
    assert any(rcpts == ["czj@wuding.example"] for _f, rcpts in recorder.envelopes)  # the other address got it
    listing = seeded("outbox", "list").stdout
    assert "部分拒收" in listing  # the table folds long cells; the JSON above holds the whole text
    weekly = seeded.json("report", "weekly", "--as-of", "2020-10-12")
    assert [(u["recipient"], "nobody@wuding.example" in u["error"]) for u in weekly["undelivered"]] == [("县财政局", True)]
    assert "nobody@wuding.example" in seeded("report", "weekly", "--as-of", "2020-10-12").stdout


def test_tls_and_starttls_together_is_a_configuration_error_at_load(seeded):
    seeded.write_config('[mail]\ntransport = "smtp"\n[mail.smtp]\ntls = true\nstarttls = true\n')
    result = seeded("run", "--once", "--today", "2020-09-23", ok=False)
    assert result.exit_code == 1 and "mail.smtp.starttls 和 mail.smtp.tls 不能同时为 true" in result.stderr and "Traceback" not in result.output
    seeded.write_config()
    assert _outbox(seeded) == []  # nothing was stored, nothing is stuck in 'sending'


def test_the_default_backoff_keeps_retrying_for_more_than_a_day():
    mail, policy = MailSettings(), DeliveryPolicy(sender="x@y.z")
    assert (mail.max_attempts, mail.retry_after_seconds, mail.retry_max_seconds) == (
        policy.max_attempts, policy.retry_after_seconds, policy.retry_max_seconds)
    waits = [retry_delay(n, mail.retry_after_seconds, mail.retry_max_seconds) for n in range(1, mail.max_attempts)]
    assert waits[:3] == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    assert max(waits) == dt.timedelta(hours=1) and sum(waits, dt.timedelta()) >= dt.timedelta(days=1)


def test_config_check_warns_about_a_password_sent_in_clear(cli, monkeypatch):
    cli("init")
    monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "x")
    cli.write_config('[mail]\ntransport = "smtp"\n[mail.smtp]\nuser = "tracker"\n')
    report = cli.json("config", "check")
    assert report["ok"] is True and any("不加密的连接上发送" in w for w in report["warnings"])
    cli.write_config('[mail]\ntransport = "smtp"\n[mail.smtp]\nuser = "tracker"\nstarttls = true\nport = 587\n')
    assert cli.json("config", "check")["warnings"] == []
