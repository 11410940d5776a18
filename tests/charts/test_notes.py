"""NOTES.txt prints commands a user can paste. `helm template` never renders NOTES.txt and
`helm install --dry-run` needs a cluster, so the test renders it through `tpl` in a copy of the
chart."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from .conftest import API_VERSIONS, CHART, KUBE_VERSION, NAMESPACE


@pytest.fixture(scope="module")
def notes(helm, tmp_path_factory):
    chart = tmp_path_factory.mktemp("notes") / "wattstream"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "notes-source.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        'notes: {{ tpl (.Files.Get "notes-source.txt") . | toJson }}\n')

    def render(*args: str) -> str:
        cmd = [helm, "template", "ws", str(chart), "-n", NAMESPACE, "--kube-version",
               KUBE_VERSION, "--show-only", "templates/zz-notes.yaml", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        return yaml.safe_load(proc.stdout)["notes"]

    return render


def test_notes_tell_how_to_reach_everything(notes):
    text = notes(*[a for v in API_VERSIONS for a in ("--api-versions", v)])
    assert "kubectl -n wattstream wait kafka/ws-wattstream-kafka --for=condition=Ready" in text
    assert "kubectl -n wattstream scale deployment/ws-wattstream-generator --replicas=3" in text
    assert "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80" in text
    assert "hdfs dfs -ls -R /wattstream/warehouse" in text


def test_notes_warn_when_the_monitoring_api_is_missing(notes):
    text = notes()
    assert "serves no monitoring.coreos.com/v1 API" in text
