"""The image definitions: hadolint, pinned non-root bases, and native runs of the entrypoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from wattstream.config import from_dict

from .conftest import ROOT, one

IMAGES = ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
ENTRYPOINT = IMAGES / "generator" / "entrypoint.sh"
JOB_MAIN = IMAGES / "job" / "job_main.py"
WATTSTREAM = ROOT / ".venv" / "bin" / "wattstream"


def _run(cmd, env=None, drop=(), **kw):
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**base, **(env or {})}, **kw)


def test_there_is_a_generator_and_a_job_image():
    assert {p.parent.name for p in DOCKERFILES} == {"generator", "job"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_finds_nothing(hadolint, dockerfile):
    proc = _run([hadolint, "--failure-threshold", "info", str(dockerfile)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_are_multi_stage_pinned_and_end_non_root(dockerfile):
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(bases) >= 2, "multi-stage"
    for base in bases:
        image = args.get(base.strip("${}"), base)
        if ":" not in image:  # a stage name
            assert image in re.findall(r" AS (\w+)$", text, re.M), image
            continue
        assert not image.endswith(":latest") and re.search(r":\d", image), image
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")


def test_the_job_image_bakes_in_the_kafka_connector():
    text = (IMAGES / "job" / "Dockerfile").read_text()
    assert "COPY .cache/jars/spark-kafka/*.jar /opt/spark/jars/" in text
    assert "apache/spark:4.2.0-" in text


def test_the_generator_entrypoint_runs_generate_by_default():
    proc = _run(["sh", str(ENTRYPOINT)], env={"WATTSTREAM_BIN": "echo"})
    assert (proc.returncode, proc.stdout.strip()) == (0, "generate")


def test_the_generator_entrypoint_passes_arguments_through():
    proc = _run(["sh", str(ENTRYPOINT), "generate", "--help"],
                env={"WATTSTREAM_BIN": str(WATTSTREAM)})
    assert proc.returncode == 0, proc.stderr
    assert "usage: wattstream generate" in proc.stdout


def test_the_generator_entrypoint_refuses_a_missing_config(tmp_path):
    proc = _run(["sh", str(ENTRYPOINT)], env={"WATTSTREAM_BIN": str(WATTSTREAM),
                                             "WATTSTREAM_CONFIG": str(tmp_path / "none.yaml")})
    assert proc.returncode == 2
    assert "none.yaml is not a readable file" in proc.stderr


def test_the_entrypoint_reads_the_config_the_chart_renders(render, tmp_path):
    text = one(render("values-kind.yaml"), "ConfigMap", "-config")["data"]["wattstream.yaml"]
    path = tmp_path / "wattstream.yaml"
    path.write_text(text)
    proc = _run(["sh", str(ENTRYPOINT), "config"],
                env={"WATTSTREAM_BIN": str(WATTSTREAM), "WATTSTREAM_CONFIG": str(path),
                     "WATTSTREAM_GENERATOR__REPLICA_ID": "ws-wattstream-generator-abc12"})
    assert proc.returncode == 0, proc.stderr
    effective = from_dict(yaml.safe_load(proc.stdout))
    assert effective.kafka.bootstrap_servers == yaml.safe_load(text)["kafka"]["bootstrap_servers"]
    assert effective.generator.replica_id == "ws-wattstream-generator-abc12"
    assert effective.generator.buildings == 10


def test_the_job_entry_file_runs_the_job_command(tmp_path):
    path = tmp_path / "wattstream.yaml"
    path.write_text("{}\n")
    proc = _run([sys.executable, str(JOB_MAIN), "job", "--help"],
                env={"WATTSTREAM_CONFIG": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert "usage: wattstream job" in proc.stdout


@pytest.mark.parametrize("config", [None, "/nonexistent/wattstream.yaml"])
def test_the_job_entry_file_refuses_to_run_on_defaults(config):
    """A driver pod without the chart's env or config mount stops instead of running against
    localhost defaults."""
    env = {"WATTSTREAM_CONFIG": config} if config else {}
    proc = _run([sys.executable, str(JOB_MAIN), "job"], env=env, drop=["WATTSTREAM_CONFIG"])
    assert proc.returncode == 2
    assert "refusing to run on built-in defaults" in proc.stderr


def test_the_job_entry_file_uses_the_mounted_config(render, tmp_path):
    path = tmp_path / "wattstream.yaml"
    path.write_text(one(render("values.yaml"), "ConfigMap", "-config")["data"]["wattstream.yaml"])
    proc = _run([sys.executable, str(JOB_MAIN), "config"], env={"WATTSTREAM_CONFIG": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["storage"]["uri"].startswith("hdfs://")


def test_image_requirements_leave_out_pyspark_and_keep_pins():
    proc = _run([sys.executable, str(IMAGES / "requirements.py"), "--exclude", "pyspark",
                 "--pyproject", str(ROOT / "pyproject.toml")])
    reqs = proc.stdout.split()
    assert proc.returncode == 0 and reqs
    assert not any(r.startswith("pyspark") for r in reqs)
    assert any(r.startswith("kafka-python==") for r in reqs)
    assert all("==" in r or "<" in r or ">" in r for r in reqs), reqs
