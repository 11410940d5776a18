"""Which failures of the job are transient (ride them out: restart the query from its checkpoint)
and which are permanent (stop with a message that says what to do).

`TRANSIENT` is the one list of what is transient: each entry names a dependency (kafka, hdfs,
storage) and a marker found in the error's text (a Java or Python exception class, or the
wording of Hadoop's network errors). Anything not on it is permanent. `PERMANENT` only gives
known permanent causes their message; it is checked first, because a data-loss or
authentication error also mentions Kafka.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

KAFKA, HDFS, STORAGE = "kafka", "hdfs", "storage"
REASONS = (KAFKA, HDFS, STORAGE)

# (dependency, marker): a failure whose text holds the marker is transient.
TRANSIENT: tuple[tuple[str, str], ...] = (
    # Spark's Kafka source and sink (Java client): a broker away, a leader moving.
    (KAFKA, "org.apache.kafka.common.errors.TimeoutException"),
    (KAFKA, "org.apache.kafka.common.errors.DisconnectException"),
    (KAFKA, "org.apache.kafka.common.errors.NetworkException"),
    (KAFKA, "org.apache.kafka.common.errors.NotLeaderOrFollowerException"),
    (KAFKA, "org.apache.kafka.common.errors.LeaderNotAvailableException"),
    (KAFKA, "org.apache.kafka.common.errors.NotEnoughReplicasException"),
    (KAFKA, "org.apache.kafka.common.errors.CoordinatorNotAvailableException"),
    (KAFKA, "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"),
    (KAFKA, "org.apache.kafka.common.errors.BrokerNotAvailableException"),
    # The driver's alert producer (kafka-python): metadata or acknowledgement not in time.
    (KAFKA, "kafka.errors.KafkaTimeoutError"),
    (KAFKA, "kafka.errors.NoBrokersAvailable"),
    (KAFKA, "kafka.errors.KafkaConnectionError"),
    (KAFKA, "kafka.errors.NodeNotReadyError"),
    (KAFKA, "kafka.errors.RequestTimedOutError"),
    (KAFKA, "kafka.errors.NotLeaderForPartitionError"),
    (KAFKA, "kafka.errors.LeaderNotAvailableError"),
    (KAFKA, "kafka.errors.UnknownTopicOrPartitionError"),
    # Hadoop's RPC client words every network failure so ("Call From a to b failed on …").
    (HDFS, "failed on connection exception"),
    (HDFS, "failed on socket exception"),
    (HDFS, "failed on socket timeout exception"),
    (HDFS, "failed on local exception"),
    (HDFS, "End of File Exception between"),  # the NameNode went away mid-call
    (HDFS, "No Route to Host from"),
    (HDFS, "org.apache.hadoop.net.ConnectTimeoutException"),
    (HDFS, "org.apache.hadoop.ipc.RetriableException"),
    (HDFS, "org.apache.hadoop.hdfs.server.namenode.SafeModeException"),
    (HDFS, "org.apache.hadoop.ipc.StandbyException"),
    # No DataNode to write to, or one dying under a write.
    (HDFS, "could only be written to 0 of the"),
    (HDFS, "org.apache.hadoop.hdfs.BlockMissingException"),
    (HDFS, "All datanodes"),
    (HDFS, "Failed to replace a bad datanode"),
    (HDFS, "Could not obtain block"),
    (HDFS, "Could not get block locations"),
    # A local or mounted storage path that is full or gone for a while.
    (STORAGE, "No space left on device"),
    (STORAGE, "Stale file handle"),
    (STORAGE, "Transport endpoint is not connected"),
    (STORAGE, "Input/output error"),
)

# (cause, marker, what to do): known permanent failures, checked before TRANSIENT.
PERMANENT: tuple[tuple[str, str, str], ...] = (
    ("data loss", "Some data may have been lost",
     "Kafka no longer holds offsets the checkpoint expects; see job.fail_on_data_loss"),
    ("data loss", "failOnDataLoss",
     "Kafka no longer holds offsets the checkpoint expects; see job.fail_on_data_loss"),
    ("authentication", "AuthenticationException",
     "check kafka.sasl_username, kafka.sasl_password_file and kafka.security_protocol"),
    ("authentication", "AuthenticationFailedError",
     "check kafka.sasl_username, kafka.sasl_password_file and kafka.security_protocol"),
    ("authorization", "AuthorizationException",
     "grant the job's Kafka user read on the readings topic and write on the alerts and "
     "dead-letter topics"),
    ("authorization", "AuthorizationFailedError",
     "grant the job's Kafka user read on the readings topic and write on the alerts and "
     "dead-letter topics"),
    ("authorization", "org.apache.hadoop.security.AccessControlException",
     "give the job write access to storage.uri and storage.checkpoint_uri"),
    ("checkpoint", "STATE_STORE_", "the checkpoint's state does not fit this job: point "
     "storage.checkpoint_uri at a new folder (the query starts over from "
     "job.starting_offsets)"),
    ("checkpoint", "INCOMPATIBLE_DATA_FOR_TABLE", "the checkpoint does not fit this job: "
     "point storage.checkpoint_uri at a new folder"),
    ("checkpoint", "unreadable engine state", "the saved engine state is corrupt or from an "
     "incompatible version: point storage.checkpoint_uri at a new folder"),
)


@dataclass(frozen=True)
class Fault:
    transient: bool
    reason: str   # transient: kafka | hdfs | storage; permanent: the cause
    summary: str  # the error's first meaningful line
    advice: str = ""

    def describe(self) -> str:
        what = f"{self.reason}: {self.summary}"
        return f"{what} — {self.advice}" if self.advice else what


def text_of(exc: BaseException) -> str:
    """Everything an exception says: its message, a JVM stack trace and its causes."""
    parts, seen = [], set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts.append(f"{type(e).__module__}.{type(e).__name__}: {e}")
        for attr in ("desc", "stackTrace"):
            v = getattr(e, attr, None)
            if isinstance(v, str):
                parts.append(v)
        java = getattr(e, "java_exception", None)  # py4j's Py4JJavaError
        if java is not None:
            # The JVM may be gone; the message alone is enough then.
            with contextlib.suppress(Exception):
                parts.append(str(java.toString()))
                cause = java.getCause()
                while cause is not None:
                    parts.append(str(cause.toString()))
                    cause = cause.getCause()
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


def classify(error: BaseException | str) -> Fault:
    text = error if isinstance(error, str) else text_of(error)
    summary = _summary(text)
    for cause, marker, advice in PERMANENT:
        if marker in text:
            return Fault(False, cause, summary, advice)
    for reason, marker in TRANSIENT:
        if marker in text:
            line = next(ln.strip() for ln in text.splitlines() if marker in ln)
            return Fault(True, reason, _summary(line))
    return Fault(False, "unexpected error", summary,
                 "not on the list of transient faults (wattstream.job.faults.TRANSIENT); "
                 "the job's log has the whole trace")


def _summary(text: str, limit: int = 300) -> str:
    """The most telling line: the innermost 'Caused by', else the first non-empty one."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    caused = [ln for ln in lines if ln.startswith("Caused by:")]
    line = caused[-1][len("Caused by:"):].strip() if caused else (lines[0] if lines else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
