"""The command line's own words in Chinese: help pages, usage lines, placeholders and the parser's errors.

Typer (with its vendored Click) writes "Usage:", "Options", "<int>" and "No such command" in English and
exits 2 on a usage error. Clerks read only Chinese and scripts expect the product's exit code 1 for every
refusal, so the help page is written here (commands grouped in the order a person uses them), and the
parser's exceptions are turned into Chinese sentences by their type and fields, never by scraping text.
"""

from __future__ import annotations

import difflib
import pathlib
import re
from collections.abc import Sequence
from typing import Any

from typer import _click
from typer._click import exceptions as click_errors
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# The panels of `tracker --help`, in the order a person uses the commands.
PANELS = ("设置", "计划", "状态", "提醒", "报告", "维护")
OTHER_PANEL = "其他"
_COMMAND_ORDER = ("init", "units", "config", "mail", "import", "items", "show", "deadline", "event", "events",
                  "status", "extend", "history", "run", "remind", "simulate", "outbox", "report", "db", "export")

_PLACEHOLDERS = {  # what a clerk types after a well-known option
    "--today": "日期", "--as-of": "日期", "--on": "日期", "--to": "日期", "--from": "日期", "--start": "日期",
    "--after": "日期", "--unit": "单位", "--parent": "单位", "--config": "文件", "--out": "文件", "--xlsx": "文件",
    "--plan": "文件", "--units": "文件", "--by": "姓名", "--note": "说明", "--reason": "原因", "--evidence": "佐证",
    "--set": "状态", "--state": "状态", "--light": "灯色", "--kind": "类别", "--email": "邮箱", "--alias": "别名",
    "--contact": "联系人", "--phone": "电话", "--progress": "百分比", "--plan-year": "年份", "--due-within": "天数",
}
_TYPE_WORDS = {int: "整数", float: "数字", str: "文本", pathlib.Path: "路径", bool: ""}


def _annotation(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", str)
    args = getattr(annotation, "__args__", None)
    if getattr(descriptor, "is_list", False) and args:
        return args[0]
    return annotation


def placeholder(param: Any) -> str:
    """The Chinese placeholder of an option's value or an argument's name (``单位…`` when it repeats)."""
    if param.metavar:
        return str(param.metavar)
    if isinstance(param, TyperOption):
        word = next((_PLACEHOLDERS[o] for o in param.opts if o in _PLACEHOLDERS), None)
        word = word or _TYPE_WORDS.get(_annotation(param), "值")
    else:
        word = param.help.split("（")[0].split("，")[0].split("(")[0].strip() if param.help else str(param.name)
        word = word[:8] or str(param.name)
    repeats = getattr(param.type_descriptor, "is_list", False) if hasattr(param, "type_descriptor") else False
    return word + ("…" if repeats and isinstance(param, TyperArgument) else "")


def _is_flag(param: Any) -> bool:
    return isinstance(param, TyperOption) and bool(param.is_flag)


def _option_label(param: TyperOption) -> str:
    names = ", ".join([*param.opts, *param.secondary_opts])
    return names if _is_flag(param) else f"{names} {placeholder(param)}"


def _param_help(param: Any) -> str:
    text = (param.help or "").strip()
    notes = []
    if param.required:
        notes.append("必填")
    if isinstance(param, TyperOption) and param.multiple:
        notes.append("可重复")
    return text + (f"（{'，'.join(notes)}）" if notes else "")


def usage(command: Any, ctx: Any) -> str:
    """``用法：tracker status [选项] 事项编号``: the placeholders of arguments, in Chinese."""
    pieces = [ctx.command_path, "[选项]"]
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            pieces.append(placeholder(param) if param.required else f"[{placeholder(param)}]")
    if isinstance(command, TyperGroup):
        pieces.append("命令 [参数]…")
    return "用法：" + " ".join(pieces)


def _rows(rows: Sequence[tuple[str, str]], indent: int = 2) -> list[str]:
    width = min(max((_width(left) for left, _ in rows), default=0), 30)
    lines = []
    for left, right in rows:
        gap = width - _width(left)
        if gap < 0:
            lines += [" " * indent + left, " " * (indent + width + 2) + right]
        else:
            lines.append(" " * indent + left + " " * (gap + 2) + right)
    return lines


def _width(text: str) -> int:
    """Terminal columns: CJK characters are two wide."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def help_text(command: Any, ctx: Any) -> str:
    """The whole help page of a command or group."""
    lines = [usage(command, ctx), ""]
    if command.help:
        lines += [line.rstrip() for line in command.help.strip().splitlines()] + [""]
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    arguments = [(placeholder(p), _param_help(p)) for p in params if isinstance(p, TyperArgument)]
    options = [(_option_label(p), _param_help(p)) for p in params if isinstance(p, TyperOption)]
    if arguments:
        lines += ["参数："] + _rows(arguments) + [""]
    if options:
        lines += ["选项："] + _rows(options) + [""]
    if isinstance(command, TyperGroup):
        panels: dict[str, list[tuple[str, str]]] = {}
        listed = sorted(_listing(command, ctx), key=lambda row: (
            _COMMAND_ORDER.index(row[0]) if row[0] in _COMMAND_ORDER else len(_COMMAND_ORDER), row[0]))
        for name, panel, summary, hidden in listed:
            if not hidden:
                panels.setdefault(panel or OTHER_PANEL, []).append((name, summary))
        order = [*PANELS, *sorted(p for p in panels if p not in PANELS)]
        for panel in order:
            if panel in panels:
                lines += [f"{panel}：" if len(panels) > 1 else "命令："] + _rows(panels[panel]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _listing(group: Any, ctx: Any) -> list[tuple[str, str | None, str, bool]]:
    """(name, panel, summary, hidden) of a group's commands; the root lists its own without importing them."""
    listing = getattr(group, "listing", None)
    if listing is not None:
        return list(listing(ctx))
    rows = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is not None:
            summary = (sub.short_help or (sub.help or "").strip().split("\n")[0]).strip()
            rows.append((name, getattr(sub, "rich_help_panel", None), summary, bool(sub.hidden)))
    return rows


def _format_help(self: Any, ctx: Any, formatter: Any) -> None:
    formatter.write(help_text(self, ctx))


def _help_option(self: Any, ctx: Any) -> Any:
    option = _ORIGINAL_HELP_OPTION(self, ctx)
    if option is not None:
        option.help = "显示本帮助并退出"
    return option


_ORIGINAL_HELP_OPTION = _click.core.Command.get_help_option


def install() -> None:
    """Make every command and group, ours and those added later, write Chinese help."""
    TyperCommand.format_help = _format_help  # type: ignore[method-assign]
    TyperGroup.format_help = _format_help  # type: ignore[method-assign]
    _click.core.Command.get_help_option = _help_option  # type: ignore[method-assign]


def _option_name(param: Any) -> str:
    if param is None:
        return ""
    if isinstance(param, TyperOption):
        return max(param.opts, key=len)
    return placeholder(param)


_NUMBER_WORDS = {int: "整数", float: "数字"}


def _given_value(args: Sequence[str], name: str) -> str | None:
    for index, token in enumerate(args):
        if token == name and index + 1 < len(args):
            return args[index + 1]
        if token.startswith(name + "="):
            return token[len(name) + 1:]
    return None


def _command_names(ctx: Any) -> list[str]:
    command = getattr(ctx, "command", None)
    if isinstance(command, TyperGroup):
        return [name for name, _panel, _summary, hidden in _listing(command, ctx) if not hidden]
    return []


def usage_error(error: click_errors.UsageError, args: Sequence[str]) -> str:
    """The parser's complaint as a Chinese sentence that says what to type instead."""
    ctx = error.ctx
    path = ctx.command_path if ctx is not None else "tracker"
    hint = f"运行 {path} --help 查看用法。"
    if isinstance(error, click_errors.NoSuchOption):
        guesses = difflib.get_close_matches(error.option_name, sorted(error.possibilities or []), n=3, cutoff=0.5)
        guess = f"您是否想输入：{'、'.join(guesses)}？" if guesses else ""
        return f"没有“{error.option_name}”这个选项。{guess}{hint}"
    if isinstance(error, click_errors.MissingParameter):
        param = error.param
        if isinstance(param, TyperArgument):
            return f"缺少{placeholder(param)}。{hint}"
        return f"缺少必填的选项 {_option_name(param)}。{hint}"
    if isinstance(error, click_errors.BadParameter):
        name = _option_name(error.param)
        value = _given_value(args, name) if name.startswith("-") else None
        expected = _NUMBER_WORDS.get(_annotation(error.param), "") if error.param is not None else ""
        shown = f"“{value}”" if value is not None else ""
        reason = f"应为{expected}" if expected else "格式不正确"
        where = f"选项 {name} 的值" if name.startswith("-") else f"{name}"
        return f"{where}{shown}无效：{reason}。{hint}"
    if isinstance(error, click_errors.BadOptionUsage):
        takes = re.match(r"Option '(.+?)' does not take a value", error.message)
        if takes:
            return f"选项 {takes.group(1)} 是开关，后面不能跟值。{hint}"
        return f"选项 {error.option_name} 后面需要一个值。{hint}"
    message = error.message
    unknown = re.match(r"No such command '(.+?)'", message)
    if unknown:
        names = _command_names(ctx)
        guesses = difflib.get_close_matches(unknown.group(1), names, n=3, cutoff=0.5)
        guess = f"您是否想输入：{'、'.join(guesses)}？" if guesses else ""
        return f"没有“{unknown.group(1)}”这个命令。{guess}可用的命令：{'、'.join(names)}。"
    if message.startswith("Missing command"):
        return f"缺少命令。可用的命令：{'、'.join(_command_names(ctx))}。{hint}"
    extra = re.match(r"Got unexpected extra argument(?:\(s\)|s)? \((.*)\)", message)
    if extra:
        return f"多余的参数：{extra.group(1)}。{hint}"
    return f"命令行有误。{hint}"


GLOBAL_OPTIONS = ("--config",)


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move ``--config FILE`` (and ``--config=FILE``) to the front, so it works after the sub-command too."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token in GLOBAL_OPTIONS and index + 1 < len(args):
            front += [token, args[index + 1]]
            index += 2
            continue
        if any(token.startswith(option + "=") for option in GLOBAL_OPTIONS):
            front.append(token)
        else:
            rest.append(token)
        index += 1
    return front + rest
