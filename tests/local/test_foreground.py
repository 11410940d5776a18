"""What `local run` takes from its services' output: the demo line and warnings for the view,
and the error lines of a log when a service fails."""

from wattstream.local.foreground import _DEMO, _NOTICE, _errors


def test_the_demo_line_and_warnings_are_recognised_in_the_log_format():
    demo = ("2026-03-03 10:00:00,123 INFO wattstream.generator.run: demo: r0-b00000 a 36,000 m2 "
            "hospital; alert thresholds unchanged")
    assert _DEMO.search(demo).group(1).startswith("demo: r0-b00000 a 36,000 m2 hospital")
    warn = "2026-03-03 10:00:00,123 WARNING wattstream.baseline.models: no baseline at x"
    assert _NOTICE.match(warn).group(1) == "no baseline at x"
    assert not _NOTICE.match("2026-03-03 10:00:00,123 INFO wattstream.job.metrics: metrics on")
    assert not _NOTICE.match("26/03/03 10:00:00 WARN NativeCodeLoader: Unable to load")


def test_a_failed_service_is_reported_by_the_error_lines_of_its_log(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("\n".join([
        "2026-03-03 10:00:00,000 INFO wattstream.job.metrics: metrics on http://x",
        "WARNING: Using incubator modules: jdk.incubator.vector",
        'Exception in thread "main" org.apache.spark.SparkException: Master must start with '
        "local",
        "Traceback (most recent call last):",
        '  File "session.py", line 559, in getOrCreate',
        "    raise PySparkRuntimeError(",
        "pyspark.errors.exceptions.base.PySparkRuntimeError: [JAVA_GATEWAY_EXITED] Java gateway "
        "process exited",
    ]))
    assert _errors(log).splitlines() == [
        '  Exception in thread "main" org.apache.spark.SparkException: Master must start with '
        "local",
        "  pyspark.errors.exceptions.base.PySparkRuntimeError: [JAVA_GATEWAY_EXITED] Java "
        "gateway process exited"]
    quiet = tmp_path / "gen.log"
    quiet.write_text("a\nb\n")
    assert _errors(quiet) == "  a\n  b"
    assert _errors(tmp_path / "missing.log") == ""
