"""The image definitions: hadolint, pinned non-root bases, and native runs of the entrypoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


def dockerignore(path: Path) -> Callable[[str], bool]:
    """path -> excluded, by Docker's ignore rules kept simple: a pattern matches a path or one
    of its parents, `*` and `?` stay within a segment, `**` spans any, the last match wins and
    `!` admits."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pattern = re.escape(line.lstrip("!").strip("/"))
            for glob, regex in ((r"\*\*/", "(?:.*/)?"), (r"\*\*", ".*"), (r"\*", "[^/]*"),
                                (r"\?", "[^/]")):
                pattern = pattern.replace(glob, regex)
            rules.append((re.compile(pattern + r"\Z"), line.startswith("!")))

    def excluded(name: str) -> bool:
        parts = name.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        verdict = False
        for regex, admit in rules:
            if any(regex.match(p) for p in prefixes):
                verdict = not admit
        return verdict

    return excluded


def _copied(dockerfile) -> list[str]:
    """Context paths a Dockerfile COPYs: every tracked file under each source, an example name
    for a glob (the jars are fetched, not tracked)."""
    paths = []
    for line in dockerfile.read_text().splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        for source in [a for a in line.split()[1:] if not a.startswith("--")][:-1]:
            if "*" in source:
                paths.append(source.replace("*", "example"))
                continue
            tracked = _run(["git", "ls-files", "--", source], cwd=ROOT).stdout.split()
            assert tracked, f"{dockerfile}: COPY {source} copies nothing tracked"
            paths += tracked
    return paths


def test_the_dockerignore_reader_follows_dockers_rules(tmp_path):
    path = tmp_path / "x.dockerignore"
    path.write_text("# comment\n*\n!src\n!.cache/jars/*.jar\n**/__pycache__\n")
    excluded = dockerignore(path)
    assert not excluded("src/a/b.py") and not excluded(".cache/jars/k.jar")
    assert excluded("src/a/__pycache__/b.pyc") and excluded(".cache/jars/sub/k.jar")
    assert excluded("README.md") and excluded("srcs/x")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_the_build_context_holds_what_the_image_copies_and_no_local_state(dockerfile):
    # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile for `docker build -f`.
    excluded = dockerignore(dockerfile.with_name("Dockerfile.dockerignore"))
    copied = _copied(dockerfile)
    assert "pyproject.toml" in copied and any(p.startswith("src/") for p in copied)
    assert [p for p in copied if excluded(p)] == []
    for local in (".venv/bin/python", "tools/helm-v3.22.0", ".run/logs/kafka.log",
                  ".cache/jars/kafka/kafka.jar", ".git/HEAD", "tests/charts/conftest.py",
                  "src/wattstream/__pycache__/config.cpython-311.pyc"):
        assert excluded(local), local


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
