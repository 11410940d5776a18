"""The one wait helper (`wattstream.waiting`) and the one naive-UTC conversion."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from wattstream.localtime import naive_utc
from wattstream.waiting import TimedOut, wait_until


def test_returns_the_first_truthy_value_and_treats_errors_as_not_yet():
    calls = itertools.count()

    def check():
        n = next(calls)
        if n < 2:
            raise ConnectionRefusedError("still starting")
        return n if n >= 3 else 0

    assert wait_until(check, 5, "the service", interval=0.01) == 3


def test_times_out_naming_what_and_the_last_error():
    def check():
        raise ConnectionRefusedError("refused")

    with pytest.raises(TimedOut, match=r"the broker: not within 0 s .*refused"):
        wait_until(check, 0.05, "the broker", interval=0.01)


def test_fails_at_once_when_the_process_died_with_the_callers_error():
    with pytest.raises(AssertionError, match="the job: the process exited"):
        wait_until(lambda: False, 60, "the job", alive=lambda: False, error=AssertionError)


def test_naive_utc_of_scalars_series_and_none():
    assert naive_utc(None) is None
    assert naive_utc("2026-03-08T02:30:00-05:00") == pd.Timestamp("2026-03-08 07:30")
    assert naive_utc(pd.Timestamp("2026-03-08 07:30")) == pd.Timestamp("2026-03-08 07:30")
    aware = pd.Series(pd.to_datetime(["2026-10-25T01:30:00+02:00", "2026-10-25T01:30:00+01:00"],
                                     utc=True))
    assert naive_utc(aware).tolist() == [pd.Timestamp("2026-10-24 23:30"),
                                         pd.Timestamp("2026-10-25 00:30")]
    naive = pd.Series(pd.to_datetime(["2026-01-05 00:00"]))
    assert naive_utc(naive).equals(naive)
