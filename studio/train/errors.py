"""How training stops short, as exceptions every part of studio/train (and jobs.py) imports from
here, a leaf: it imports nothing of the studio but its messages."""
from __future__ import annotations

from studio.messages import Keyed, message, say


class Cancelled(Exception):
    """The run was asked to stop (SIGTERM): it saved what it had and ends `cancelled`."""


class SaveFailed(Keyed, RuntimeError):
    """A checkpoint or adapter could not be written (a full disk); the previous one is intact."""


class JobError(Keyed, RuntimeError):
    """A run that cannot be started, resumed or cancelled now; built from a message key and values."""


class TrainingFailed(Keyed, RuntimeError):
    """A run that cannot go on, with a reason and advice, each a message key (studio/messages.py)
    sharing one set of values. `reason` and `advice` are the English texts status.json keeps."""

    def __init__(self, key: str, advice: str = "", **fields):
        super().__init__(key, **fields)
        self.advice_key = advice
        self.reason = str(self)
        self.advice = say("en", advice, **fields) if advice else ""

    def messages(self) -> tuple[dict, dict | None]:
        """(reason, advice) as message() dicts, for a reader in another language."""
        return message(self.key, **self.fields), message(self.advice_key, **self.fields) if self.advice_key else None
