"""Posting to group-chat robots (WeCom, DingTalk, Feishu) over HTTPS, signed, paced and with each answer classified.

One transport for the three platforms, beside the mail transports and of the same shape: ``send``
posts one stored message or raises DeliveryError saying whether to retry. The platforms answer
HTTP 200 even when they refuse a message, with a non-zero ``errcode`` (WeCom, DingTalk) or
``code`` (Feishu); those codes are read here:

    rate limit (WeCom 45009, DingTalk 130101, Feishu 11232)   temporary, retry after the window
    bad key, token, signature, keyword, IP (WeCom 93000,      permanent, and the robot is broken:
      DingTalk 310000/300001, Feishu 19021/19024/19022/19001)  its waiting posts fail with it
    refused content (WeCom 40058, Feishu 9499)                 permanent, this message only
    timeouts, connection errors, HTTP 5xx and 429, -1 (busy)  temporary

Signing (each platform's documentation): DingTalk signs ``timestamp\\nsecret`` with the secret as
HMAC-SHA256 key, timestamp in milliseconds, both in the URL; Feishu uses ``timestamp\\nsecret`` as
the key over an empty message, timestamp in seconds, both in the JSON body; WeCom has only the key
in the URL. Both signatures are refused when the timestamp is more than an hour off.

Pacing is per robot, not per process: WeCom and DingTalk take 20 posts a minute (DingTalk throttles
a robot that exceeds it for ten minutes), Feishu 100 a minute and 5 a second. ``Pacer`` waits for
a free slot in every window instead of letting the platform refuse.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from notifications.errors import DeliveryError

DEFAULT_BASE_URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
    "dingtalk": "https://oapi.dingtalk.com/robot/send",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook",
}


@dataclass(frozen=True)
class RateLimit:
    count: int
    seconds: float


LIMITS: dict[str, tuple[RateLimit, ...]] = {
    "wecom": (RateLimit(20, 60),),
    "dingtalk": (RateLimit(20, 60),),
    "feishu": (RateLimit(100, 60), RateLimit(5, 1)),
}
THROTTLED_SECONDS = {"wecom": 60, "dingtalk": 600, "feishu": 60}  # how long a robot that went too fast is refused


class RobotDeliveryError(DeliveryError):
    """A refused post; ``retry_after`` (seconds) when the platform said when, ``broken`` when the robot itself is unusable."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None, broken: bool = False) -> None:
        super().__init__(message, permanent=permanent)
        self.retry_after = retry_after
        self.broken = broken


# code: (permanent, broken, what it means); rate-limit codes are in _RATE_LIMITED
_CODES: dict[str, dict[int, tuple[bool, bool, str]]] = {
    "wecom": {
        93000: (True, True, "Webhook 的 key 无效（机器人已被移除，或 key 抄错）"),
        40058: (True, False, "消息内容超长或格式不对"),
        -1: (False, False, "平台系统繁忙"),
    },
    "dingtalk": {
        310000: (True, True, "安全设置校验未通过（加签密钥不对、时间戳与平台相差超过一小时、关键词或 IP 白名单不符）"),
        300001: (True, True, "access_token 无效（机器人已被移除，或 token 抄错）"),
        400013: (True, True, "群已解散"),
        -1: (False, False, "平台系统繁忙"),
    },
    "feishu": {
        19021: (True, True, "签名校验失败（签名密钥不对，或时间戳与平台相差超过一小时）"),
        19024: (True, True, "关键词校验失败"),
        19022: (True, True, "IP 不在白名单中"),
        19001: (True, True, "Webhook 地址无效（机器人已被移除，或地址抄错）"),
        9499: (True, False, "请求格式不对或超过 20 KB"),
    },
}
_RATE_LIMITED = {"wecom": {45009}, "dingtalk": {130101}, "feishu": {11232}}


def classify(platform: str, code: int, message: str) -> RobotDeliveryError:
    """The error for a non-zero code in an HTTP 200 answer; an unknown code is retried (bounded), with the code shown."""
    if code in _RATE_LIMITED[platform]:
        wait = THROTTLED_SECONDS[platform]
        return RobotDeliveryError(f"限流（{code}），{wait} 秒后重试（{message}）", permanent=False, retry_after=wait)
    permanent, broken, meaning = _CODES[platform].get(code, (False, False, "未知错误，稍后重试"))
    return RobotDeliveryError(f"拒收（{code}）：{meaning}（{message}）", permanent=permanent, broken=broken)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Robot:
    platform: str
    target: str
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class RobotSettings:
    base_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BASE_URLS))
    timeout_seconds: float = 10.0
    parallel: int = 32


class RobotTransport:
    """Posts to robots with one pooled httpx client; the clock is a parameter so that tests can put it out of the window."""

    name = "robot"

    def __init__(self, settings: RobotSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._client: httpx.AsyncClient | None = None

    def request(self, robot: Robot, payload: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
        """URL, query and body of one signed post."""
        base = self.settings.base_urls[robot.platform].rstrip("/")
        if robot.platform == "wecom":
            return base, {"key": robot.target}, payload
        if robot.platform == "dingtalk":
            params = {"access_token": robot.target}
            if robot.secret:
                stamp = int(self.clock() * 1000)
                params |= {"timestamp": str(stamp), "sign": dingtalk_sign(robot.secret, stamp)}
            return base, params, payload
        if robot.secret:
            stamp = int(self.clock())
            payload = {"timestamp": str(stamp), "sign": feishu_sign(robot.secret, stamp), **payload}
        return f"{base}/{robot.target}", {}, payload

    async def send(self, robot: Robot, raw: str) -> str:
        """Post one stored message; returns a note, or raises RobotDeliveryError."""
        if self._client is None:
            timeout = httpx.Timeout(self.settings.timeout_seconds, connect=min(5.0, self.settings.timeout_seconds))
            limits = httpx.Limits(max_connections=self.settings.parallel, max_keepalive_connections=self.settings.parallel)
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)
        url, params, body = self.request(robot, json.loads(raw))
        try:
            response = await self._client.post(url, params=params, content=json.dumps(body, ensure_ascii=False).encode(),
                                               headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.TimeoutException as exc:
            raise RobotDeliveryError(f"连接机器人平台超时：{type(exc).__name__}", permanent=False) from exc
        except httpx.HTTPError as exc:
            raise RobotDeliveryError(f"无法连接机器人平台 {url.split('?')[0]}：{type(exc).__name__}", permanent=False) from exc
        return _answer(robot.platform, response)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _answer(platform: str, response: httpx.Response) -> str:
    if response.status_code == 429 or response.status_code >= 500:
        raise RobotDeliveryError(f"机器人平台回复 HTTP {response.status_code}，稍后重试", permanent=False,
                                 retry_after=THROTTLED_SECONDS[platform] if response.status_code == 429 else None)
    if response.status_code == 404:
        raise RobotDeliveryError("机器人平台回复 HTTP 404：Webhook 地址不存在，请检查机器人标识和 [channels] 中的地址",
                                 permanent=True, broken=True)
    try:
        answer = response.json()
    except ValueError as exc:
        raise RobotDeliveryError(f"机器人平台的回复不是 JSON（HTTP {response.status_code}），稍后重试", permanent=False) from exc
    key = "code" if platform == "feishu" else "errcode"
    code = answer.get(key, answer.get("StatusCode", 0)) if isinstance(answer, dict) else None
    if not isinstance(code, int):
        raise RobotDeliveryError(f"机器人平台的回复缺少 {key}（HTTP {response.status_code}），稍后重试", permanent=False)
    if code != 0:
        raise classify(platform, code, str(answer.get("msg") or answer.get("errmsg") or ""))
    if response.status_code != 200:
        raise RobotDeliveryError(f"机器人平台回复 HTTP {response.status_code}", permanent=response.status_code < 500)
    return ""


class Pacer:
    """Waits until one more post to a robot stays within every one of its limits, counted over sliding windows.

    Earlier posts (from the database: earlier passes, other processes) are counted too, at the time
    they were recorded as sent, which is after the platform had them.
    """

    def __init__(self, limits: tuple[RateLimit, ...], clock: Callable[[], float] = time.monotonic,
                 earlier: list[float] = ()) -> None:  # type: ignore[assignment]
        self.limits = limits
        self.clock = clock
        self.sent: deque[float] = deque(sorted(earlier))

    def delay(self) -> float:
        """Seconds to wait before the next post."""
        now = self.clock()
        wait = 0.0
        for limit in self.limits:
            window = _window(limit)
            recent = [t for t in self.sent if t > now - window]
            if len(recent) >= limit.count:
                wait = max(wait, recent[-limit.count] + window - now)
        return wait

    async def wait(self) -> None:
        """Until one more post fits. Call ``record`` when the post's answer has come: the post reached the platform
        before that and the next one reaches it after it is sent, so the platform sees them at least a window apart,
        whatever the network's delays."""
        while (delay := self.delay()) > 0:
            await asyncio.sleep(delay)

    def record(self) -> None:
        now = self.clock()
        self.sent.append(now)
        longest = max(_window(limit) for limit in self.limits)
        while self.sent and self.sent[0] <= now - longest:
            self.sent.popleft()


def _window(limit: RateLimit) -> float:
    """A limit's window with a margin for the time a request takes to reach the platform."""
    return limit.seconds * 1.02 + 0.05
