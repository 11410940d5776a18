"""The docs list what the code defines: the stored window columns and the alert fields in
`job/README.md` are the code's, in its order."""

from __future__ import annotations

import re
from pathlib import Path

from wattstream.job.alerts import ALERT_COLUMNS
from wattstream.job.engine import CLOSED_COLUMNS

README = Path(__file__).resolve().parents[1] / "src" / "wattstream" / "job" / "README.md"


def listed(heading: str) -> list[str]:
    """The backticked names that open each bullet of the list after the paragraph starting
    with `heading` (`- `a`, `b`: text` lists a and b)."""
    text = README.read_text()
    start = text.index(heading)
    block = text[start:].split("\n\n", 2)[1]
    names = []
    for line in block.splitlines():
        if line.startswith("- "):
            head = line[2:].split(":", 1)[0].split(" (", 1)[0]
            names += re.findall(r"`([a-z0-9_]+)`", head)
    return names


def test_the_window_columns_listed_are_the_stored_ones():
    assert listed("Columns of a stored window") == [*CLOSED_COLUMNS, "date"]


def test_the_alert_fields_listed_are_the_alerts_ones():
    assert listed("Fields of an alert") == list(ALERT_COLUMNS)
