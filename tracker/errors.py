"""The errors the tracker raises, each carrying a message for the operator in Chinese.

    TrackerError                 every error the tracker package raises on purpose
    ├── ConfigError              config.toml: unknown key, bad value, missing file
    ├── DirectoryError           the unit directory file
    ├── PlanImportError          a work-plan file: encoding, layout, cells
    ├── DeadlineParseError       a 完成时间 text that cannot be read
    ├── UnknownNameError         a unit, group, item or event name that is not known
    ├── DatabaseStateError       the database is missing, already there, or not initialised
    ├── StatusError              a status update, extension or event that is refused
    │   └── CycleError           a step of the supervision cycle (sign, report, review, extension) that is refused
    ├── AccessError              a unit link or office login that does not allow what was asked
    ├── CatalogueError           an Annex 2 catalogue file that cannot be read, or a refused acceptance
    ├── SheetError               a status sheet that cannot be applied (every bad cell listed)
    ├── ClockError               a date that cannot be trusted: out of range, in the future, a clock that jumped
    ├── PlanError                a plan code that is unknown or badly formed, or an item key that several plans share
    └── OutputFileError          a file the command was asked to write is refused or cannot be written

The CLI prints ``str(error)`` and exits non-zero; nothing else should ever reach the operator.
"""

from __future__ import annotations

from collections.abc import Sequence


class TrackerError(Exception):
    """Base of every deliberate tracker error; its text is shown to the operator as is."""


class ConfigError(TrackerError):
    """The configuration cannot be used."""


class DirectoryError(TrackerError):
    """The unit directory file cannot be used."""


class PlanImportError(TrackerError):
    """A work-plan file cannot be imported."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}" + (f" 第 {line} 行" if line is not None else "")
            where += "："
        super().__init__(where + message)
        self.path = path
        self.line = line


class DeadlineParseError(TrackerError):
    """A deadline text is not one of the forms the parser knows."""


class UnknownNameError(TrackerError):
    """A name does not match any known unit, group, item or event."""

    def __init__(self, what: str, name: str, suggestions: Sequence[str] = (), hint: str = "") -> None:
        message = f"未知的{what}“{name}”。"
        if suggestions:
            message += "您是否想输入：" + "、".join(f"“{s}”" for s in suggestions) + "？"
        if hint:
            message += hint
        super().__init__(message)
        self.name = name
        self.suggestions = list(suggestions)


class DatabaseStateError(TrackerError):
    """The database is not in the state the command needs."""


class StatusError(TrackerError):
    """A status change is refused; nothing was written."""


class CycleError(StatusError):
    """A step of the supervision cycle (签收, 反馈, 审核, 延期申请) is refused."""


class AccessError(TrackerError):
    """A link or login that is forged, expired, revoked, or does not reach what was asked for."""


class CatalogueError(TrackerError):
    """An Annex 2 catalogue cannot be read or accepted; nothing was written."""


class SheetError(TrackerError):
    """A status sheet is refused as a whole; nothing was written."""


class ClockError(TrackerError):
    """A date or clock that the tracker will not act on; writing with it could silence real reminders."""


class OutputFileError(TrackerError):
    """An output path would clobber data (the database, the config, an existing file) or cannot be written."""


class PlanError(TrackerError):
    """A plan code is unknown, badly formed or already taken, or an item key is ambiguous among the plans."""
