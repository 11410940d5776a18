"""When the job writes an idle-close record (`idle.IdleCloser.due`), on fakes of the query's
status, the batches and a clock."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from wattstream.config import Config
from wattstream.job import idle

CFG = Config().replace(windows={"idle_close_seconds": 30})
IDLE = {"isDataAvailable": False, "isTriggerActive": False, "message": "Waiting for data"}


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _closer(status=None, open_windows: int = 1, until: int | None = 5_000_000):
    clock = Clock()
    b = SimpleNamespace(busy=False, input_at=clock.t, engine=SimpleNamespace(
        max_event_us=until, windows=pd.DataFrame({"ws": range(open_windows)})))
    st = {"now": IDLE if status is None else status}
    c = idle.IdleCloser(CFG, lambda: b, lambda: st["now"], clock)
    return c, b, st, clock


def test_due_once_the_input_has_been_idle_for_the_configured_time():
    c, b, _, clock = _closer()
    clock.t += 29.9
    assert c.due() is None
    clock.t += 0.2
    assert c.due() == 5_000_000


def test_not_due_while_spark_sees_data_a_batch_runs_or_the_query_is_down():
    for status in ({**IDLE, "isDataAvailable": True}, {**IDLE, "isTriggerActive": True}, {}):
        c, _, _, clock = _closer(status)
        clock.t += 60
        assert c.due() is None, status
    c, b, st, clock = _closer()
    clock.t += 60
    b.busy = True
    assert c.due() is None
    b.busy, st["now"] = False, None  # stopped (an outage): the backlog is not idle input
    assert c.due() is None


def test_not_due_without_open_windows_or_before_any_reading():
    for kwargs in ({"open_windows": 0}, {"until": None}):
        c, _, _, clock = _closer(**kwargs)
        clock.t += 60
        assert c.due() is None, kwargs


def test_one_record_per_newest_event_time_again_only_after_another_idle_time():
    c, b, _, clock = _closer()
    clock.t += 31
    assert c.due() == 5_000_000
    c._sent = (5_000_000, clock.t)  # as `check` records a record it wrote
    clock.t += 10
    assert c.due() is None  # on its way: not again
    b.engine.max_event_us = 6_000_000  # newer readings arrived since (and are idle again)
    assert c.due() == 6_000_000
    b.engine.max_event_us = 5_000_000
    clock.t += 30  # the record never arrived (lost with a failed send): once more
    assert c.due() == 5_000_000


def test_off_at_zero():
    c = idle.IdleCloser(Config().replace(windows={"idle_close_seconds": 0}), lambda: None,
                        lambda: None).start()
    assert c._thread is None
    c.stop()
