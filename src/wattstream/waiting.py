"""Waiting on a condition, the one way the project does it (services starting, tests and
benches waiting on an outcome): poll until true, fail after a timeout with a message naming
what was awaited, or at once when the process behind it has died."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import WattstreamError

T = TypeVar("T")


class TimedOut(WattstreamError):
    """A condition did not come true in time (or its process died first)."""


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25,
               alive: Callable[[], bool] | None = None,
               error: Callable[[str], BaseException] = TimedOut) -> T:
    """Poll `check` every `interval` seconds until it returns a truthy value, and return it.
    An exception from `check` means "not yet" (a service still starting refuses
    connections); the last one is named if time runs out. Raises `error(message)` after
    `timeout` seconds, or as soon as `alive` returns False."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a failing probe just means "not yet"
            last = exc
        if alive is not None and not alive():
            raise error(f"{what}: the process exited while waiting")
        if time.monotonic() > deadline:
            raise error(f"{what}: not within {timeout:.0f} s"
                        + (f" (last error: {last!r})" if last is not None else ""))
        time.sleep(interval)
