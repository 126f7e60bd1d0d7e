"""Errors of the notifications package.

    NotificationError        every deliberate error here
    ├── TransportConfigError the configured transport cannot be built (unknown name, missing password)
    ├── DeliveryError        one message could not be delivered; ``permanent`` says whether to retry
    └── WorkbookError        the process writing the weekly job's workbook failed or could not be started
"""

from __future__ import annotations

from tracker.errors import TrackerError


class NotificationError(TrackerError):
    """Base of the errors raised by notifications."""


class TransportConfigError(NotificationError):
    """The mail settings do not describe a usable transport."""


class DeliveryError(NotificationError):
    """A message was not delivered. Permanent failures (5xx, refused recipients) are not retried.

    ``stop_pass`` marks failures that are not the message's: a refused password, a certificate, TLS
    on the wrong port. The pass stops and the message goes back to the queue uncharged."""

    def __init__(self, message: str, *, permanent: bool, stop_pass: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.stop_pass = stop_pass


class WorkbookError(NotificationError):
    """The process writing the weekly job's workbook (``notifications.workbook_process``) failed or could not start."""
