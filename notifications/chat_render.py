"""Digests as group-chat messages: markdown from the same Digest objects as the e-mail, cut to each platform's size.

The template renders a digest as blocks (an entry, an item of the escalation list, a warning);
the renderer packs whole blocks into parts, so a long digest becomes numbered parts and no entry
is ever cut in two. Own entries come first, overdue ones at the top (the digest's own order).

Limits: WeCom markdown content ≤ 4096 bytes; Feishu request body ≤ 20 KB; DingTalk documents no
figure for markdown, so its text is kept to 20,000 bytes, the same order as Feishu's. Mentions:
DingTalk @-mentions by mobile in the markdown itself; WeCom only in text messages, so its
mentions follow the digest as one short text message; Feishu custom robots can mention only by
user id, never by mobile, so the mobiles are written out instead.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from notifications.render import ROLE_LABELS, _EntryView, one_line, render_subject, templates
from tracker.reminders import Digest, group_by_item
from tracker.report import WeeklyReport

LIGHT_MARKS = {"red": "🔴", "yellow": "🟡", "green": "🟢"}
WECOM_MARKDOWN_BYTES = 4096
DINGTALK_TEXT_BYTES = 20_000
FEISHU_BODY_BYTES = 20 * 1024
FEISHU_SIGNATURE_BYTES = 96  # the "timestamp" and "sign" fields the transport adds to the body


@dataclass(frozen=True)
class ChatPost:
    """One post to one robot: what it says (the JSON body, signed only when sent) and the digest entries in it."""

    subject: str
    payload: dict[str, Any]
    entries: list[dict[str, object]]

    @property
    def raw(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False)

    @staticmethod
    def new_id(platform: str) -> str:
        return f"<{uuid.uuid4().hex}.{platform}@robot>"


def _body_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def markdown_payload(platform: str, title: str, text: str, mobiles: Sequence[str] = ()) -> dict[str, Any]:
    if platform == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if platform == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text},
                "at": {"atMobiles": list(mobiles), "isAtAll": False}}
    return {"msg_type": "interactive", "card": {
        "header": {"title": {"tag": "plain_text", "content": title}, "template": "blue"},
        "elements": [{"tag": "markdown", "content": text}]}}


def fits(platform: str, payload: dict[str, Any]) -> bool:
    """Whether a post is within its platform's size limit."""
    if platform == "wecom":
        content = payload.get("markdown", payload.get("text", {})).get("content", "")
        return len(content.encode("utf-8")) <= WECOM_MARKDOWN_BYTES
    if platform == "dingtalk":
        return len(payload["markdown"]["text"].encode("utf-8")) <= DINGTALK_TEXT_BYTES
    return _body_size(payload) + FEISHU_SIGNATURE_BYTES <= FEISHU_BODY_BYTES


def _mentions(platform: str, mobiles: Sequence[str]) -> str:
    if not mobiles:
        return ""
    if platform == "dingtalk":
        return " ".join(f"@{m}" for m in mobiles)
    if platform == "feishu":
        return "请 " + "、".join(mobiles) + " 的负责同志及时查看。"
    return ""


def render_chat_digest(
    digest: Digest, platform: str, *, county: str, prefix: str, warnings: Sequence[str] = (), mobiles: Sequence[str] = (),
) -> list[ChatPost]:
    """The posts that carry one digest to one robot of ``platform``: numbered parts, then (WeCom) the mentions."""
    macros = templates().get_template("chat_digest.md").module
    recipient = one_line(digest.recipient)
    roles = "、".join(sorted({ROLE_LABELS.get(e.role, e.role) for e in digest.escalations}))
    blocks: list[Block] = []
    several = len({e.plan for e in digest.own}) > 1  # one digest covers every active plan: name each item's plan
    for e in digest.own:
        view = _EntryView(e)
        view.light_mark = LIGHT_MARKS.get(e.light, "")  # type: ignore[attr-defined]
        if several:
            view.item = f"{e.plan}:{e.item}"  # type: ignore[attr-defined]
        blocks.append(("own", str(macros.entry(view)), [e.to_json()]))
    for item, entries in sorted(group_by_item(digest.escalations, digest.several_plans).items()):
        blocks.append(("escalations", str(macros.escalation(item, entries)), [e.to_json() for e in entries]))
    blocks += [("warnings", str(macros.warning(w)), []) for w in warnings]
    mention = _mentions(platform, mobiles)
    posts = _parts(
        platform, render_subject(digest, prefix), blocks, mobiles,
        head=lambda part, parts: str(macros.header(prefix, recipient, digest.run_date.isoformat(), county, part, parts)),
        section=lambda name, continued: str(macros.section(name, roles, continued)),
        foot=lambda part: str(macros.footer(mention if part == 1 else "")),
    )
    if platform == "wecom" and mobiles:
        nudge = str(macros.nudge(prefix, recipient, len(posts)))
        posts.append(ChatPost(render_subject(digest, prefix) + "（@提醒）",
                              {"msgtype": "text", "text": {"content": nudge, "mentioned_mobile_list": list(mobiles)}}, []))
    return posts


def render_chat_weekly(report: WeeklyReport, platform: str) -> list[ChatPost]:
    """The weekly 通报 for a group chat: the figures, the red items and what could not be delivered; the rest is in the mail."""
    from notifications.weekly import figures, subject

    macros = templates().get_template("chat_weekly.md").module
    blocks: list[Block] = [("red", str(macros.red(i, report.ref(i.plan, i.key))), []) for i in report.red_items]
    blocks += [("undelivered", str(macros.undelivered(who, title, error)), []) for who, title, error in report.undelivered]
    blocks += [("warnings", str(macros.warning(w)), []) for w in report.warnings]
    return _parts(
        platform, subject(report), blocks, (),
        head=lambda part, parts: str(macros.header(report, figures(report), part, parts)),
        section=lambda name, continued: str(macros.section(name, len(report.red_items), continued)),
        foot=lambda part: str(macros.footer()),
    )


def _parts(
    platform: str, subject: str, blocks: list[Block], mobiles: Sequence[str], *, head: Callable[[int, int], str],
    section: Callable[[str, bool], str], foot: Callable[[int], str],
) -> list[ChatPost]:
    """Header, the blocks under their section titles (marked 续 in a later part), footer: as few numbered posts as fit."""

    def compose(chosen: Sequence[Block], part: int, parts: int, seen: set[str]) -> str:
        lines = [head(part, parts)]
        current = None
        for name, text, _ in chosen:
            if name != current:
                lines.append(section(name, name in seen))
                current = name
            lines.append(text)
        lines.append(foot(part))
        return "\n\n".join(lines)

    def post_fits(text: str) -> bool:  # with the longest title a part can get ("（99/99）")
        return fits(platform, markdown_payload(platform, subject + "（99/99）", text, mobiles))

    # measured as the first part (its footer carries the mentions) of many, so that no real part is larger
    groups = _pack(blocks, lambda chosen, seen: post_fits(compose(chosen, 1, 99, seen)))
    posts = []
    seen: set[str] = set()
    for number, chosen in enumerate(groups, 1):
        text = compose(chosen, number, len(groups), seen)
        seen |= {name for name, _, _ in chosen}
        title = subject + (f"（{number}/{len(groups)}）" if len(groups) > 1 else "")
        posts.append(ChatPost(title, markdown_payload(platform, title, text, mobiles if number == 1 else ()),
                              [entry for _, _, entries in chosen for entry in entries]))
    return posts


Block = tuple[str, str, list[dict[str, object]]]


def _pack(blocks: list[Block], fit: Callable[[list[Block], set[str]], bool]) -> list[list[Block]]:
    """Whole blocks, greedily, into as few parts as fit; a block too big for a part on its own is shortened, with a note."""
    parts: list[list[Block]] = []
    current: list[Block] = []
    seen: set[str] = set()
    for block in blocks:
        if fit([*current, block], seen):
            current.append(block)
            continue
        if current:
            parts.append(current)
            seen |= {name for name, _, _ in current}
            current = []
        current = [block if fit([block], seen) else _shorten(block, lambda b: fit([b], seen))]
    parts.append(current)
    return parts


def _shorten(block: Block, fit: Callable[[Block], bool]) -> Block:
    name, text, entries = block
    note = "…（内容过长，已截断，详见同日邮件）"
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the note
        middle = (low + high + 1) // 2
        if fit((name, text[:middle] + note, entries)):
            low = middle
        else:
            high = middle - 1
    return (name, text[:low] + note, entries)


def render_chat_test(platform: str, *, prefix: str, label: str, now: dt.datetime) -> ChatPost:
    """The message `tracker channel test` posts."""
    text = str(templates().get_template("chat_digest.md").module.test(prefix, label, now.strftime("%Y-%m-%d %H:%M")))
    title = f"【{prefix}】测试消息"
    return ChatPost(title, markdown_payload(platform, title, text), [])
