"""The generator's on-disk spool: an append-only FIFO of Kafka records that outlives the process.

    spool = Spool(path, max_bytes=1 << 30)          # locks the folder, scans what is there
    spool.append([SpoolRecord(kind, ts_ms, topic, key, value), ...])   # tail; SpoolFull
    got = spool.read(1000)                          # from the head, oldest first
    spool.release(before=got[-1].index + 1)         # acknowledged by Kafka: gone for good
    spool.rewind(); spool.push_front(records)       # at exit: older unacknowledged ones first
    spool.close()

Layout of the folder: segment files `<id>.seg` read in id order (appends go to the newest;
`push_front` writes a segment with a lower id than any), `head.json` (how far each segment has
been consumed) and `lock` (held with `flock` while a generator uses the folder, so two processes
never share one spool).

A record on disk is `u32 length, u32 crc32, payload` with payload `u8 kind, i64 timestamp_ms,
u16 topic length, i32 key length (-1: none), topic, key, value`.

Durability (the same trade as Vector's and Fluent Bit's default disk buffers):
- every `append` is one unbuffered `write`: a killed process (kill -9) loses nothing written;
- `fsync` at most once a second while appending, when a segment is sealed and at `close`: a
  machine that loses power may lose the last second of spooled records;
- a record is removed only after Kafka acknowledged it (`release`); the consumed position is
  written to `head.json` (atomic rename) at most once a second and at `close`, so after a crash
  up to a second of acknowledged records is sent again (at least once); after a clean exit none;
- on open every segment is scanned and each record's CRC checked: a torn record at the end (a
  write cut short by a kill) and anything after a corrupt record is cut off, logged with the count
  of bytes and records dropped (`Spool.dropped`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from pathlib import Path
from typing import NamedTuple

from ..errors import WattstreamError

log = logging.getLogger(__name__)

READING, OTHER = 0, 1  # record kinds: readings are counted in the summary, the rest (weather) not

_HEAD = struct.Struct("<II")  # payload length, crc32 of the payload
_FIXED = struct.Struct("<BqHi")  # kind, timestamp ms, topic length, key length (-1: None)
OVERHEAD = _HEAD.size + _FIXED.size  # bytes on disk besides topic, key and value
MAX_RECORD = 64 << 20  # a longer length field is corruption
FIRST_ID = 10**15  # appends count up from here, push_front down
SYNC_EVERY_S = 1.0
READ_CHUNK = 1 << 20


# A record is a 6-tuple in SpoolRecord's field order. The send path makes plain tuples: the
# cyclic GC stops tracking a tuple of ints, str and bytes (never an instance of a subclass), and
# the records waiting for Kafka would otherwise be scanned again and again.
KIND, TS_MS, TOPIC, KEY, VALUE, INDEX = range(6)


class SpoolRecord(NamedTuple):
    kind: int
    ts_ms: int
    topic: str
    key: bytes | None
    value: bytes
    index: int = -1  # read order, set by `read` (what `release` counts in)

    @property
    def size(self) -> int:
        return record_size(self.topic, self.key, self.value)


def record_size(topic: str, key: bytes | None, value: bytes) -> int:
    return OVERHEAD + len(topic) + (len(key) if key is not None else 0) + len(value)


def size_of(r: tuple) -> int:
    return record_size(r[TOPIC], r[KEY], r[VALUE])


def encode(r: tuple) -> bytes:
    kind, ts_ms, topic, key, value = r[:5]
    topic = topic.encode()
    klen = -1 if key is None else len(key)
    payload = b"".join((_FIXED.pack(kind, ts_ms, len(topic), klen), topic, key or b"", value))
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes | memoryview) -> SpoolRecord:
    kind, ts_ms, tlen, klen = _FIXED.unpack_from(payload)
    p = _FIXED.size
    topic = bytes(payload[p:p + tlen]).decode()
    p += tlen
    key = None if klen < 0 else bytes(payload[p:p + klen])
    p += max(klen, 0)
    return SpoolRecord(kind, ts_ms, topic, key, bytes(payload[p:]))


def _scan(buf: bytes) -> tuple[int, int, int, str | None]:
    """Walk the records of a segment's bytes: (valid length, records, readings, why it stopped
    early or None)."""
    pos = records = readings = 0
    end = len(buf)
    view = memoryview(buf)
    while pos < end:
        if end - pos < _HEAD.size:
            return pos, records, readings, "a torn record header"
        length, crc = _HEAD.unpack_from(buf, pos)
        if length < _FIXED.size or length > MAX_RECORD:
            return pos, records, readings, f"an impossible record length {length}"
        if end - pos - _HEAD.size < length:
            return pos, records, readings, "a torn record"
        start = pos + _HEAD.size
        if zlib.crc32(view[start:start + length]) != crc:
            return pos, records, readings, "a record whose checksum does not match"
        records += 1
        readings += buf[start] == READING
        pos = start + length
    return pos, records, readings, None


class SpoolFull(WattstreamError):
    """The spool cannot take the records without passing `max_bytes`."""


class Spool:
    def __init__(self, path: str | Path, max_bytes: int, segment_bytes: int | None = None):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(16 << 20, max(64 << 10, max_bytes // 16))
        self._lock = threading.Lock()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WattstreamError(f"spool {self.path}: {exc.strerror}; set generator.spool_dir "
                                  f"to a writable folder") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise WattstreamError(f"spool {self.path} is in use by another generator: give each "
                                  f"replica its own generator.spool_dir (or replica id)") from None
        self.records = 0  # not yet released (on disk, unread or read)
        self.readings = 0
        self.unread = 0  # records after the read cursor
        self.dropped = 0  # records found torn or corrupt at open
        self.bytes = 0  # size of the segment files
        self._sizes: dict[int, int] = {}  # segment id -> file size, in read order (sorted)
        self._start: dict[int, int] = {}  # segment id -> bytes already consumed (head.json)
        self._tail_fd: int | None = None
        self._tail_id: int | None = None
        self._dirty = False
        self._last_sync = time.monotonic()
        self._head_dirty = False
        # read cursor
        self._rid: int | None = None
        self._roff = 0
        self._rbuf = b""
        self._rbuf_pos = 0  # file offset of _rbuf[0]
        self._next_index = 0
        # read but not released: (index, segment id, end offset, kind)
        self._inflight: deque[tuple[int, int, int, int]] = deque()
        self._open()

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> None:
        for tmp in self.path.glob("*.tmp"):
            tmp.unlink()
        try:
            head = json.loads((self.path / "head.json").read_text())
            starts = {int(k): int(v) for k, v in head["start"].items()}
        except FileNotFoundError:
            starts = {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("spool %s: head.json unreadable (%s): its records are read from their "
                        "start (some may be sent twice)", self.path, exc)
            starts = {}
        ids = sorted(int(p.stem) for p in self.path.glob("*.seg") if p.stem.isdigit())
        for sid in ids:
            seg = self._seg_path(sid)
            data = seg.read_bytes()
            start = min(starts.get(sid, 0), len(data))
            valid, n, readings, why = _scan(data[start:])
            if why is not None:
                cut = len(data) - start - valid
                self.dropped += 1
                # a torn record ends the newest segment after a kill; elsewhere it is damage,
                # and the lengths after it cannot be trusted: at least one record is lost
                level = logging.WARNING if sid == ids[-1] else logging.ERROR
                log.log(level, "spool %s: %s at byte %d of %s: dropped 1 record (the last "
                        "%d bytes of the segment)", self.path, why, start + valid, seg.name,
                        cut)
                with open(seg, "r+b") as fh:
                    fh.truncate(start + valid)
                    os.fsync(fh.fileno())
            size = start + valid
            if n == 0:
                seg.unlink()
                continue
            self._sizes[sid] = size
            if start:
                self._start[sid] = start
            self.bytes += size
            self.records += n
            self.readings += readings
        self.unread = self.records
        self._rid = next(iter(self._sizes), None)
        self._roff = self._start.get(self._rid, 0) if self._rid is not None else 0
        if set(starts) != set(self._start):
            self._head_dirty = True
            self._write_head()

    def _seg_path(self, sid: int) -> Path:
        return self.path / f"{sid:020d}.seg"

    # -- writing -----------------------------------------------------------------------------

    def append(self, records: list[SpoolRecord], reserve: int = 0) -> int:
        """Write `records` at the tail, all or none: SpoolFull when the spool's files, `reserve`
        bytes (records still to come back, e.g. unacknowledged ones) and these would pass
        `max_bytes`. Returns the bytes written."""
        blob = b"".join(encode(r) for r in records)
        with self._lock:
            if self.bytes + reserve + len(blob) > self.max_bytes:
                raise SpoolFull(self._full_message(len(blob), reserve))
            if self._tail_fd is None:
                self._tail_id = max(self._sizes, default=FIRST_ID - 1) + 1
                self._tail_fd = os.open(self._seg_path(self._tail_id),
                                        os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._sizes[self._tail_id] = 0
                if self._rid is None:
                    self._rid, self._roff = self._tail_id, 0
            _write_all(self._tail_fd, blob)
            self._sizes[self._tail_id] += len(blob)
            self.bytes += len(blob)
            n = len(records)
            readings = sum(r[KIND] == READING for r in records)
            self.records += n
            self.readings += readings
            self.unread += n
            self._dirty = True
            if self._sizes[self._tail_id] >= self.segment_bytes:
                self._seal()
            elif time.monotonic() - self._last_sync >= SYNC_EVERY_S:
                self._sync()
            return len(blob)

    def _full_message(self, wanted: int, reserve: int) -> str:
        held = f"{self.bytes:,} bytes in {self.path}"
        if reserve:
            held += f" + {reserve:,} bytes of unacknowledged records that come back to it"
        return (f"the generator's spool is full: {held} + {wanted:,} new bytes would pass "
                f"generator.spool_max_bytes={self.max_bytes:,}; stopped producing (nothing "
                f"was dropped). Raise generator.spool_max_bytes or bring Kafka back; the next "
                f"start sends the spool first")

    def _sync(self) -> None:
        if self._tail_fd is not None and self._dirty:
            os.fsync(self._tail_fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    def _seal(self) -> None:
        self._sync()
        os.close(self._tail_fd)
        self._tail_fd = self._tail_id = None

    def push_front(self, records: list[SpoolRecord]) -> None:
        """Put `records` (in order) before everything the spool holds. Only with nothing read
        and unreleased (after `rewind`). Never refused: these records were counted against
        the bound while they waited for Kafka."""
        if not records:
            return
        with self._lock:
            if self._inflight or (self._rid is not None
                                  and self._roff != self._start.get(self._rid, 0)):
                raise RuntimeError("push_front with records read but not released")
            sid = min(self._sizes, default=FIRST_ID) - 1
            blob = b"".join(encode(r) for r in records)
            tmp = self.path / f"{sid:020d}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, blob)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._seg_path(sid))
            self._sizes = {sid: len(blob), **self._sizes}
            self.bytes += len(blob)
            self.records += len(records)
            self.readings += sum(r[KIND] == READING for r in records)
            self.unread += len(records)
            self._rid, self._roff, self._rbuf, self._rbuf_pos = sid, 0, b"", 0
            if self.bytes > self.max_bytes:
                log.warning("spool %s: %d bytes, above generator.spool_max_bytes=%d after "
                            "keeping the unacknowledged records", self.path, self.bytes,
                            self.max_bytes)

    # -- reading -----------------------------------------------------------------------------

    def read(self, limit: int) -> list[SpoolRecord]:
        """Up to `limit` records from the read cursor, oldest first; each carries its `index`."""
        out: list[SpoolRecord] = []
        with self._lock:
            while len(out) < limit and self.unread > 0 and self._rid is not None:
                rec = self._next_record()
                if rec is None:
                    continue
                out.append(rec)
        return out

    def _fill(self, need: int) -> memoryview:
        """The bytes from the read cursor on: at least `need` of them, unless the segment ends
        first."""
        rel = self._roff - self._rbuf_pos
        if rel < 0 or len(self._rbuf) - rel < need:
            size = self._sizes[self._rid]
            with open(self._seg_path(self._rid), "rb") as fh:
                fh.seek(self._roff)
                self._rbuf = fh.read(min(size - self._roff, max(need, READ_CHUNK)))
            self._rbuf_pos, rel = self._roff, 0
        return memoryview(self._rbuf)[rel:]

    def _next_record(self) -> SpoolRecord | None:
        """The record at the read cursor (None when the cursor moved to the next segment)."""
        if self._roff >= self._sizes[self._rid]:
            self._advance_segment()
            return None
        view = self._fill(_HEAD.size)
        ok = len(view) >= _HEAD.size
        if ok:
            length, crc = _HEAD.unpack_from(view)
            ok = _FIXED.size <= length <= MAX_RECORD
        if ok:
            view = self._fill(_HEAD.size + length)
            payload = view[_HEAD.size:_HEAD.size + length]
            ok = len(payload) == length and zlib.crc32(payload) == crc
        if not ok:  # every segment was checked at open: only a disk changing under us
            raise WattstreamError(f"spool {self.path}: {self._seg_path(self._rid).name} is "
                                  f"corrupt at byte {self._roff}; stopped (restarting checks "
                                  f"the spool and drops what is damaged)")
        rec = _decode(payload)
        self._roff += _HEAD.size + length
        index = self._next_index
        self._next_index += 1
        self._inflight.append((index, self._rid, self._roff, rec.kind))
        self.unread -= 1
        return SpoolRecord(rec.kind, rec.ts_ms, rec.topic, rec.key, rec.value, index)

    def _advance_segment(self) -> None:
        later = [s for s in self._sizes if s > self._rid]
        if later:
            self._rid = later[0]
            self._roff = self._start.get(self._rid, 0)
        else:
            self._roff = self._sizes[self._rid]
        self._rbuf, self._rbuf_pos = b"", 0

    def release(self, before: int | None = None) -> int:
        """Records read with an index below `before` (all read ones when None) are
        acknowledged: they leave the spool. Returns how many."""
        n = 0
        with self._lock:
            last = None
            while self._inflight and (before is None or self._inflight[0][0] < before):
                _index, sid, end, kind = self._inflight.popleft()
                self.records -= 1
                self.readings -= kind == READING
                last = (sid, end)
                n += 1
            if last is not None:
                self._consumed_up_to(*last)
            if self.records == 0 and self._sizes:
                self._drop_all()
        return n

    def _consumed_up_to(self, sid: int, end: int) -> None:
        for older in [s for s in self._sizes if s < sid]:
            self._delete(older)
        if end >= self._sizes[sid] and sid != self._tail_id:
            self._delete(sid)
        else:
            self._start[sid] = end
        self._head_dirty = True

    def _delete(self, sid: int) -> None:
        if sid == self._tail_id:
            os.close(self._tail_fd)
            self._tail_fd = self._tail_id = None
            self._dirty = False
        # unlinked before head.json forgets it: a crash in between leaves no file to look for
        self._seg_path(sid).unlink(missing_ok=True)
        self.bytes -= self._sizes.pop(sid)
        self._start.pop(sid, None)
        self._head_dirty = True
        if sid == self._rid:  # read to its end: the cursor goes on to the next segment
            later = [s for s in self._sizes if s > sid]
            self._rid = later[0] if later else None
            self._roff = self._start.get(self._rid, 0) if later else 0
            self._rbuf, self._rbuf_pos = b"", 0

    def _drop_all(self) -> None:
        for sid in list(self._sizes):
            self._delete(sid)
        self._rid, self._roff, self._rbuf, self._rbuf_pos = None, 0, b"", 0

    def rewind(self) -> None:
        """Move the read cursor back to the oldest record not released: what was read but not
        acknowledged is read again (by the next run)."""
        with self._lock:
            self.unread += len(self._inflight)
            self._inflight.clear()
            self._rid = next(iter(self._sizes), None)
            self._roff = self._start.get(self._rid, 0) if self._rid is not None else 0
            self._rbuf, self._rbuf_pos = b"", 0

    # -- persistence -------------------------------------------------------------------------

    def commit(self) -> None:
        """fsync the tail and write how far the head was consumed (atomic rename)."""
        with self._lock:
            self._sync()
            self._write_head()

    def _write_head(self) -> None:
        if not self._head_dirty:
            return
        tmp = self.path / "head.json.tmp"
        with open(tmp, "w") as fh:
            json.dump({"start": {str(k): v for k, v in self._start.items()}}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / "head.json")
        self._head_dirty = False

    def close(self) -> None:
        with self._lock:
            if self._lock_fd is None:
                return
            self._sync()
            if self._tail_fd is not None:
                os.close(self._tail_fd)
                self._tail_fd = self._tail_id = None
            self._write_head()
            dfd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
