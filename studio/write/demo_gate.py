"""Who may start what on a demo link, now: new visitor keys at a bounded rate, and each visitor's
drafts within the owner's limits (studio/config.py DemoLimits), one at a time.

The counts live in this process only (a restart forgets them, which is the safe direction: the
limits are per hour and per minute). What they bound, and what they do not, is the threat model in
docs/sharing.md.
- Keys: at most `new_visitors_per_address` an hour to one network address, and
  `new_visitors_per_hour` to all together; a script that mints keys is refused once past them,
  and since keys are signed (studio/write/visitors.py) it cannot make its own.
- Drafts: at most `max_new_tokens` a draft, `rows` rows (panes x drafts), `prompt_chars` of
  prompt, `drafts_per_minute` started in a minute, and one running at a time per visitor. Inside
  the drafter every running draft shares the batch (studio/write/batching.py), so a visitor at the
  limits slows the others by a share of a step, not by the length of their draft.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from pathlib import Path

from studio.config import DemoLimits
from studio.write import visitors
from studio.write.visitors import VisitorError

KEY_WINDOW_S = 3600.0
DRAFT_WINDOW_S = 60.0
SWEEP_AT = 1000  # addresses remembered before the ones with nothing in the window are forgotten

LIMITS = DemoLimits()  # the app sets the owner's (set_limits) when it starts
_lock = threading.Lock()
_keys_by_address: dict[str, deque] = {}
_keys_all: deque = deque()
_drafts_by_visitor: dict[str, deque] = {}
_drafting: set[str] = set()


def set_limits(limits: DemoLimits) -> None:
    global LIMITS
    LIMITS = limits


def reset() -> None:
    """Forget every count (tests; a new app in the same process)."""
    with _lock:
        _keys_by_address.clear(), _keys_all.clear(), _drafts_by_visitor.clear(), _drafting.clear()


def _recent(times: deque, now: float, window: float) -> deque:
    while times and now - times[0] >= window:
        times.popleft()
    return times


def _sweep(table: dict[str, deque], now: float, window: float) -> None:
    if len(table) >= SWEEP_AT:
        for key in [k for k, times in table.items() if not _recent(times, now, window)]:
            del table[key]


def issue_key(root: Path, address: str, now: float | None = None) -> str:
    """A new visitor's key, unless this address or everyone together had too many this hour."""
    now = time.time() if now is None else now
    with _lock:
        _sweep(_keys_by_address, now, KEY_WINDOW_S)
        mine = _recent(_keys_by_address.setdefault(address, deque()), now, KEY_WINDOW_S)
        everyone = _recent(_keys_all, now, KEY_WINDOW_S)
        if address and len(mine) >= LIMITS.new_visitors_per_address:  # '': a local proxy that names nobody
            raise VisitorError("visitor.keys_address", n=LIMITS.new_visitors_per_address,
                               minutes=_wait_minutes(mine, now))
        if len(everyone) >= LIMITS.new_visitors_per_hour:
            raise VisitorError("visitor.keys_all", n=LIMITS.new_visitors_per_hour, minutes=_wait_minutes(everyone, now))
        mine.append(now)
        everyone.append(now)
    return visitors.new_token(root)


def _wait_minutes(times: deque, now: float) -> int:
    return max(1, round((KEY_WINDOW_S - (now - times[0])) / 60))


def check_draft(max_new_tokens: int, rows: int, prompt_chars: int = 0) -> None:
    """The size of one visitor draft, refused with the limit it passes."""
    if max_new_tokens > LIMITS.max_new_tokens:
        raise VisitorError("visitor.draft_tokens", asked=max_new_tokens, most=LIMITS.max_new_tokens)
    if rows > LIMITS.rows:
        raise VisitorError("visitor.draft_rows", asked=rows, most=LIMITS.rows)
    if prompt_chars > LIMITS.prompt_chars:
        raise VisitorError("visitor.prompt_chars", asked=prompt_chars, most=LIMITS.prompt_chars)


@contextlib.contextmanager
def drafting(folder: Path, max_new_tokens: int, rows: int, prompt_chars: int = 0, now: float | None = None):
    """Held while one visitor's draft runs: within the size limits, under the rate, and the only one
    of that visitor's running. The owner (a folder that is not a visitor's) is not limited."""
    if not visitors.is_shelf(folder):
        yield
        return
    check_draft(max_new_tokens, rows, prompt_chars)
    visitor, now = Path(folder).name, time.time() if now is None else now
    with _lock:
        _sweep(_drafts_by_visitor, now, DRAFT_WINDOW_S)
        started = _recent(_drafts_by_visitor.setdefault(visitor, deque()), now, DRAFT_WINDOW_S)
        if visitor in _drafting:
            raise VisitorError("visitor.one_draft")
        if len(started) >= LIMITS.drafts_per_minute:
            raise VisitorError("visitor.draft_rate", n=LIMITS.drafts_per_minute,
                               seconds=max(1, round(DRAFT_WINDOW_S - (now - started[0]))))
        started.append(now)
        _drafting.add(visitor)
    try:
        yield
    finally:
        with _lock:
            _drafting.discard(visitor)
