"""A local server that behaves like the WeCom, DingTalk and Feishu robot webhooks, for tests and the benchmark.

One HTTP server on localhost answers for the three platforms under their own paths (the product's
base URLs point here): ``/wecom/send?key=K``, ``/dingtalk/send?access_token=T&timestamp=&sign=``,
``/feishu/hook/H``. Like the platforms it answers HTTP 200 with ``errcode``/``code``:

- an unknown robot: WeCom 93000, DingTalk 300001, Feishu 19001;
- a bad signature, or a timestamp more than an hour from the server's clock: DingTalk 310000, Feishu 19021;
- too many posts to one robot in a sliding window (WeCom and DingTalk 20 a minute, Feishu 100 a
  minute and 5 a second): WeCom 45009, DingTalk 130101 (and the robot stays throttled for ten
  minutes), Feishu 11232; ``scale`` shrinks every window and throttle, so a test need not wait minutes;
- WeCom markdown over 4096 bytes: 40058; a Feishu body over 20 KB: 9499.

Every request is recorded with its time, robot, body and answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.smtp_server import free_port

WINDOWS = {"wecom": ((20, 60.0),), "dingtalk": ((20, 60.0),), "feishu": ((100, 60.0), (5, 1.0))}
RATE_CODES = {"wecom": (45009, "api freq out of limit"), "dingtalk": (130101, "send too fast, exceed 20 times per minute"),
              "feishu": (11232, "frequency limited")}
UNKNOWN = {"wecom": (93000, "invalid webhook url"), "dingtalk": (300001, "token is not exist"),
           "feishu": (19001, "param invalid: incoming webhook access token invalid")}
DINGTALK_THROTTLE = 600.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 resets connections when dozens of robots post at once


@dataclass
class Post:
    at: float
    platform: str
    robot: str
    body: dict[str, Any]
    code: int


@dataclass
class RobotServer:
    scale: float = 1.0
    clock_skew: float = 0.0  # seconds added to the server's clock, to test the signature's clock window
    robots: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, id) -> secret ("" = unsigned)
    posts: list[Post] = field(default_factory=list)
    _windows: dict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _throttled_until: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, platform: str, robot: str, secret: str = "") -> RobotServer:
        self.robots[(platform, robot)] = secret
        return self

    def base_urls(self) -> dict[str, str]:
        root = f"http://127.0.0.1:{self.port}"
        return {"wecom": f"{root}/wecom/send", "dingtalk": f"{root}/dingtalk/send", "feishu": f"{root}/feishu/hook"}

    def config(self) -> str:
        urls = self.base_urls()
        return ("\n[channels]\n" + "".join(f'{p}_url = "{u}"\n' for p, u in urls.items()) + "timeout_seconds = 5\n")

    def accepted(self, platform: str | None = None, robot: str | None = None) -> list[Post]:
        return [p for p in self.posts if p.code == 0 and platform in (None, p.platform) and robot in (None, p.robot)]

    def start(self) -> RobotServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802  (the benchmark reads what was posted from another process)
                data = json.dumps([[p.at, p.platform, p.robot, p.code] for p in server.posts]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = server.handle(self.path, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.port = getattr(self, "port", 0) or free_port()
        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if parts.path == "/wecom/send":
            platform, robot = "wecom", query.get("key", "")
        elif parts.path == "/dingtalk/send":
            platform, robot = "dingtalk", query.get("access_token", "")
        elif parts.path.startswith("/feishu/hook/"):
            platform, robot = "feishu", parts.path.rsplit("/", 1)[1]
        else:
            return 404, {"error": "not found"}
        with self._lock:
            now = time.time()
            code, message = self._check(platform, robot, query, body, raw, now)
            self.posts.append(Post(now, platform, robot, body, code))
        key = "code" if platform == "feishu" else "errcode"
        return 200, {key: code, ("msg" if platform == "feishu" else "errmsg"): message}

    def _check(self, platform: str, robot: str, query: dict[str, str], body: dict[str, Any], raw: bytes,
               now: float) -> tuple[int, str]:
        if (platform, robot) not in self.robots:
            return UNKNOWN[platform]
        secret = self.robots[(platform, robot)]
        server_clock = now + self.clock_skew
        if platform == "dingtalk" and secret:
            stamp = query.get("timestamp", "")
            expected = base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
            if not stamp.isdigit() or abs(int(stamp) / 1000 - server_clock) > 3600 or query.get("sign") != expected:
                return 310000, "sign not match"
        if platform == "feishu" and secret:
            stamp = str(body.get("timestamp", ""))
            expected = base64.b64encode(hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
            if not stamp.isdigit() or abs(int(stamp) - server_clock) > 3600 or body.get("sign") != expected:
                return 19021, "sign match fail or timestamp is not within one hour from current time"
        if platform == "wecom" and body.get("msgtype") == "markdown" and len(body["markdown"]["content"].encode()) > 4096:
            return 40058, "markdown.content exceed max length 4096"
        if platform == "feishu" and len(raw) > 20 * 1024:
            return 9499, "Bad Request"
        if not self._well_formed(platform, body):
            return {"wecom": (40008, "invalid message type"), "dingtalk": (40035, "缺少参数 json"),
                    "feishu": (9499, "Bad Request")}[platform]
        key = (platform, robot)
        if now < self._throttled_until.get(key, 0):
            return RATE_CODES[platform]
        sent = self._windows[key]
        for count, seconds in WINDOWS[platform]:
            window = seconds * self.scale
            if sum(1 for t in sent if t > now - window) >= count:
                if platform == "dingtalk":
                    self._throttled_until[key] = now + DINGTALK_THROTTLE * self.scale
                return RATE_CODES[platform]
        sent.append(now)
        return 0, "ok"

    @staticmethod
    def _well_formed(platform: str, body: dict[str, Any]) -> bool:
        if platform == "wecom":
            kind = body.get("msgtype")
            return kind in ("markdown", "text") and bool(body.get(kind, {}).get("content"))
        if platform == "dingtalk":
            return body.get("msgtype") == "markdown" and bool(body.get("markdown", {}).get("text")) \
                and bool(body["markdown"].get("title"))
        return body.get("msg_type") == "interactive" and bool(body.get("card", {}).get("elements"))


def main() -> None:
    """`python -m tests.robot_servers --port P --robots robots.json`: the server in a process of its own (the benchmark)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--robots", type=Path, required=True, help="JSON: [[platform, id, secret], ...]")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    server = RobotServer(scale=args.scale)
    for platform, robot, secret in json.loads(args.robots.read_text("utf-8")):
        server.add(platform, robot, secret)
    server.port = args.port
    server.start()
    try:
        server._thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
