"""The on-disk spool (generator/spool.py) on its own: FIFO order across segments, the byte
bound, put-back at the head, reopening, a torn or corrupt record, one process per folder."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from wattstream.errors import WattstreamError
from wattstream.generator.spool import OTHER, READING, Spool, SpoolFull, SpoolRecord, encode

MB = 1 << 20


def rec(i: int, kind: int = READING, topic: str = "readings") -> SpoolRecord:
    return SpoolRecord(kind, 1_700_000_000_000 + i, topic, f"b{i % 7}".encode(),
                       json.dumps({"n": i, "pad": "x" * 100}).encode())


def numbers(records) -> list[int]:
    return [json.loads(r.value)["n"] for r in records]


def drain(spool: Spool, chunk: int = 64) -> list[SpoolRecord]:
    out = []
    while got := spool.read(chunk):
        out += got
    return out


def test_records_come_out_in_order_across_segments_with_all_their_fields(tmp_path):
    with Spool(tmp_path, MB, segment_bytes=4096) as spool:
        for i in range(0, 100, 10):  # a batch goes to one segment; then it rolls over
            spool.append([rec(j) for j in range(i, i + 10)])
        spool.append([rec(100, OTHER, "weather"), SpoolRecord(READING, 5, "readings", None,
                                                              b"")])
        assert len(list(tmp_path.glob("*.seg"))) >= 3  # rolled over
        assert (spool.records, spool.readings, spool.unread) == (102, 101, 102)
        got = drain(spool, 7)
        assert numbers(got[:101]) == list(range(101))
        assert got[0] == SpoolRecord(READING, 1_700_000_000_000, "readings", b"b0",
                                     rec(0).value, index=0)
        assert (got[100].kind, got[100].topic) == (OTHER, "weather")
        assert (got[101].key, got[101].value, got[101].ts_ms) == (None, b"", 5)
        assert [r.index for r in got] == list(range(102))
        assert spool.unread == 0 and spool.records == 102  # read, not yet released
        assert spool.release(before=50) == 50
        assert spool.records == 52
        spool.release()
        assert spool.records == spool.readings == spool.bytes == 0
        assert not list(tmp_path.glob("*.seg"))  # everything acknowledged: no file left


def test_the_byte_bound_refuses_a_whole_batch_and_counts_the_reserve(tmp_path):
    size = len(encode(rec(0)))
    with Spool(tmp_path, 10 * size) as spool:
        spool.append([rec(i) for i in range(6)])
        with pytest.raises(SpoolFull, match=r"generator\.spool_max_bytes=.*nothing was dropped"):
            spool.append([rec(i) for i in range(6, 11)])  # 11 > 10: none of the five is taken
        assert spool.records == 6 and spool.bytes == 6 * size
        with pytest.raises(SpoolFull, match="unacknowledged records"):
            spool.append([rec(6)], reserve=4 * size)  # 6 + 4 held elsewhere + 1 > 10
        spool.append([rec(i) for i in range(6, 10)])  # exactly full
        assert spool.bytes == 10 * size
        assert numbers(drain(spool)) == list(range(10))


def test_put_back_at_the_head_goes_before_everything_read_again_after_rewind(tmp_path):
    with Spool(tmp_path, MB, segment_bytes=2048) as spool:
        for i in range(10, 40, 5):
            spool.append([rec(j) for j in range(i, i + 5)])
        first = spool.read(12)  # handed to Kafka: 10..21
        spool.release(before=first[5].index)  # 10..14 acknowledged, 15..21 not
        with pytest.raises(RuntimeError):
            spool.push_front([rec(0)])  # only once nothing read is outstanding
        spool.rewind()
        spool.push_front([rec(i) for i in range(10)])  # older, unacknowledged elsewhere
        assert spool.records == 35
        assert numbers(drain(spool)) == list(range(10)) + list(range(15, 40))


def test_reopening_continues_where_the_acknowledgements_stopped(tmp_path):
    with Spool(tmp_path, MB, segment_bytes=2048) as spool:
        for i in range(50):
            spool.append([rec(i)])
        got = spool.read(30)
        spool.release(before=got[20].index)  # 0..19 gone; 20..29 read, unacknowledged
    with Spool(tmp_path, MB, segment_bytes=2048) as spool:
        assert (spool.records, spool.unread, spool.dropped) == (30, 30, 0)
        spool.append([rec(50)])
        assert numbers(drain(spool)) == list(range(20, 51))
        spool.release(before=5)  # 20..24 (index 0..4 of this run)
    with Spool(tmp_path, MB) as spool:
        assert numbers(drain(spool)) == list(range(25, 51))


def test_a_torn_last_record_is_dropped_and_counted_on_open(tmp_path, caplog):
    with Spool(tmp_path, MB) as spool:
        spool.append([rec(i) for i in range(20)])
    seg = max(tmp_path.glob("*.seg"))
    os.truncate(seg, seg.stat().st_size - 30)  # the last write cut short
    caplog.set_level(logging.WARNING)
    with Spool(tmp_path, MB) as spool:
        assert spool.dropped == 1 and spool.records == 19
        assert "a torn record" in caplog.text and "dropped 1 record" in caplog.text
        assert numbers(drain(spool)) == list(range(19))
        spool.append([rec(19)])  # appends after the cut, not after the torn bytes
    with Spool(tmp_path, MB) as spool:
        assert spool.dropped == 0 and numbers(drain(spool)) == list(range(20))


def test_a_corrupt_record_cuts_its_segment_there_and_is_logged(tmp_path, caplog):
    size = len(encode(rec(0)))
    with Spool(tmp_path, MB, segment_bytes=10 * size) as spool:
        spool.append([rec(i) for i in range(10)])  # segment 1 (sealed)
        spool.append([rec(i) for i in range(10, 15)])  # segment 2
    older = min(tmp_path.glob("*.seg"))
    data = bytearray(older.read_bytes())
    data[3 * size + 40] ^= 0xFF  # a flipped byte inside record 3
    older.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING)
    with Spool(tmp_path, MB) as spool:
        assert "checksum does not match" in caplog.text
        assert spool.dropped == 1
        assert numbers(drain(spool)) == [0, 1, 2, *range(10, 15)]


def test_one_generator_per_spool_folder(tmp_path):
    with Spool(tmp_path, MB), pytest.raises(WattstreamError, match="in use by another"):
        Spool(tmp_path, MB)
    Spool(tmp_path, MB).close()  # free again after close


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WattstreamError, match="generator.spool_dir"):
        Spool(tmp_path / "file" / "spool", MB)


WRITER = """
import json, sys
from wattstream.generator.spool import Spool, SpoolRecord
spool = Spool(sys.argv[1], 1 << 30)
i = 0
while True:
    spool.append([SpoolRecord(0, i, "t", b"k", json.dumps({"n": i + j, "pad": "y" * 300})
                              .encode()) for j in range(50)])
    i += 50
    if i == 5000:
        print("ready", flush=True)
"""


def test_kill_9_while_appending_loses_at_most_the_torn_last_record(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Spool(tmp_path, 1 << 30) as spool:
        got = numbers(drain(spool, 1000))
        assert spool.dropped <= 1
        assert len(got) >= 5000 and got == list(range(len(got)))  # a gapless prefix
