"""Errors of the notifications package.

    NotificationError        every deliberate error here
    ├── TransportConfigError the configured transport cannot be built (unknown name, missing password)
    └── DeliveryError        one message could not be delivered; ``permanent`` says whether to retry
"""

from __future__ import annotations

from tracker.errors import TrackerError


class NotificationError(TrackerError):
    """Base of the errors raised by notifications."""


class TransportConfigError(NotificationError):
    """The mail settings do not describe a usable transport."""


class DeliveryError(NotificationError):
    """A message was not delivered. Permanent failures (5xx, refused recipients) are not retried."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
