"""Whole files on the storage (file:// or hdfs://: the job's Parquet, the models, reports),
written so that no reader ever sees one half-written: bytes go to a hidden name in the target
folder (`.<name>.inprogress`, which Spark, pyarrow, pandas, Polars and DuckDB globs of
`*.parquet` all skip), then are renamed into place. Through Hadoop's FileSystem in the
driver's JVM, so both schemes take one path.

    fs = Files(spark)
    fs.write("hdfs://nn:9000/w/windows/date=2026-01-05/part-0000000007.parquet", data)
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class Files:
    def __init__(self, spark):
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()
        self._fs: dict[str, object] = {}

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs_of(self, path):
        key = str(path.toUri().getScheme()) + "://" + str(path.toUri().getAuthority())
        if key not in self._fs:
            self._fs[key] = path.getFileSystem(self._conf)
        return self._fs[key]

    def write(self, uri: str, data: bytes) -> None:
        """`data` as the file `uri`, replacing it whole if it exists."""
        final = self._path(uri)
        fs = self._fs_of(final)
        tmp = self._path(f"{final.getParent().toString()}/.{final.getName()}.inprogress")
        out = fs.create(tmp, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        if fs.exists(final):
            fs.delete(final, False)
        if not fs.rename(tmp, final):
            raise OSError(f"could not rename {tmp.toString()} to {uri}")

    def read(self, uri: str) -> bytes:
        path = self._path(uri)
        stream = self._fs_of(path).open(path)
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def list(self, uri: str) -> list[str]:
        """Names of the visible entries of a folder ([] when it does not exist)."""
        path = self._path(uri)
        fs = self._fs_of(path)
        if not fs.exists(path):
            return []
        return sorted(n for n in (s.getPath().getName() for s in fs.listStatus(path))
                      if not n.startswith((".", "_")))

    def exists(self, uri: str) -> bool:
        path = self._path(uri)
        return bool(self._fs_of(path).exists(path))

    def delete(self, uri: str, recursive: bool = False) -> None:
        path = self._path(uri)
        self._fs_of(path).delete(path, recursive)


def parquet_bytes(df: pd.DataFrame, schema: pa.Schema | None = None) -> bytes:
    """A pandas table as Parquet bytes; naive timestamps are stored as UTC instants (Spark's
    TIMESTAMP, not TIMESTAMP_NTZ)."""
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def utc(df: pd.DataFrame) -> pd.DataFrame:
    """Naive (UTC) timestamp columns made UTC-aware, for `parquet_bytes`."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_dtype(out[c]) and getattr(out[c].dt, "tz", None) is None:
            out[c] = out[c].dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    return out
