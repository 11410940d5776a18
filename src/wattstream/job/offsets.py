"""Kafka source offsets of a query's progress: consumer lag and the data a query went past.

With `job.fail_on_data_loss` false the Kafka source skips offsets Kafka no longer has; the
job's progress listener (`metrics.ProgressListener`) finds them with `data_losses` and counts
them in `wattstream_kafka_data_loss_total`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


def lag(source: dict) -> int | None:
    """Σ(latest − end) over the partitions of a Kafka source progress."""
    def offsets(v):
        return json.loads(v) if isinstance(v, str) else v

    try:
        end, latest = offsets(source.get("endOffset")), offsets(source.get("latestOffset"))
    except ValueError:
        return None
    if not isinstance(end, dict) or not isinstance(latest, dict):
        return None
    total = 0
    for topic, parts in latest.items():
        for p, off in parts.items():
            total += max(0, int(off) - int(end.get(topic, {}).get(p, off)))
    return total


TopicPartition = tuple[str, str]


@dataclass(frozen=True)
class DataLoss:
    """Kafka data a query went past without reading it."""
    topic: str
    kind: str     # "gap": records deleted unread; "reset": a partition's offsets went back
    records: int  # records skipped for a gap; 1 for a reset (Kafka cannot tell how many)
    where: str    # partitions and offsets, for the log


def kafka_offsets(value) -> dict[TopicPartition, int]:
    """{(topic, partition): offset} of a Kafka source's progress offsets ({"topic": {"0": 12}},
    as JSON text or parsed); {} for anything else (other sources, no offsets yet)."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
        return {(t, str(p)): int(o) for t, parts in parsed.items() for p, o in parts.items()}
    except (AttributeError, TypeError, ValueError):
        return {}


def data_losses(previous_end: Mapping[TopicPartition, int], start: Mapping[TopicPartition, int],
                end: Mapping[TopicPartition, int], rows: int | None = None) -> list[DataLoss]:
    """Data lost in one micro-batch of a Kafka source: `previous_end` is where the query's
    last batch ended, `start` and `end` are this batch's offsets (`kafka_offsets`), `rows` the
    records the batch read.

    A batch starts where the last one ended, ends at or after its start, and reads every offset
    in between. A start further on skipped records (gap); a start lower, an end below the
    start or a partition gone mean the log was wiped or the topic recreated (reset; Spark goes
    on from the new offsets). Fewer rows than the offsets span: records deleted by retention
    before the batch read them (gap; Spark skips to the earliest offset Kafka still has).
    """
    out = []
    for (topic, p), s in sorted(start.items()):
        k, e = previous_end.get((topic, p)), end.get((topic, p))
        if k is not None and s > k:
            out.append(DataLoss(topic, "gap", s - k, f"partition {p}: offset {k} → {s}"))
        elif k is not None and s < k:
            out.append(DataLoss(topic, "reset", 1, f"partition {p}: offset {k} → {s}"))
        if e is None:
            out.append(DataLoss(topic, "reset", 1, f"partition {p}: gone after offset {s}"))
        elif e < s:
            out.append(DataLoss(topic, "reset", 1, f"partition {p}: offset {s} → {e}"))
    spans = {tp: (s, end[tp]) for tp, s in sorted(start.items()) if end.get(tp, s) > s}
    topics = {t for t, _ in spans}
    # Partitions new in this batch are read from their earliest offset, which the progress
    # does not give: their rows only lower the count, so a loss is never overstated.
    unread = sum(e - s for s, e in spans.values()) - (rows or 0)
    if rows is not None and unread > 0 and len(topics) == 1:
        ranges = ", ".join(f"{p} ({s} → {e})" for (_, p), (s, e) in spans.items())
        out.append(DataLoss(topics.pop(), "gap", unread, f"partitions {ranges}: {rows} of "
                            f"{rows + unread} records read"))
    return out
