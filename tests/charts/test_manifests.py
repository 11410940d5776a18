"""Every install scenario renders, and every rendered manifest is valid, strictly."""

from __future__ import annotations

import copy
import subprocess

import pytest

from .conftest import CHART, KUBE_VERSION, SCENARIOS, one
from .validation import errors


def test_helm_lint_passes_strictly_for_every_scenario(helm):
    for scenario in SCENARIOS:
        cmd = [helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION]
        if scenario != "values.yaml":
            cmd += ["-f", str(CHART / scenario)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{scenario}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_of_the_scenario_is_valid(render, scenario):
    docs = render(scenario)
    assert docs, "rendered nothing"
    problems = [p for d in docs for p in errors(d)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_image_is_floating(render, scenario):
    for d in render(scenario):
        spec = d.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        images = [c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])]
        if d["kind"] == "SparkApplication":
            images.append(spec["image"])
        for image in images:
            assert ":" in image and not image.endswith(":latest"), f"{d['kind']}: {image}"


def test_the_validator_rejects_an_unknown_field_in_a_custom_resource(render):
    kafka = copy.deepcopy(one(render("values.yaml"), "Kafka"))
    kafka["spec"]["kafka"]["replicas"] = 3  # gone in Strimzi 1.x (node pools hold replicas)
    assert any("replicas" in p for p in errors(kafka))


def test_the_validator_rejects_an_unknown_field_in_a_core_kind(render):
    deployment = copy.deepcopy(one(render("values.yaml"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["cpu"] = 1
    assert errors(deployment)


def test_the_validator_rejects_a_wrong_type_in_a_spark_application(render):
    app = copy.deepcopy(one(render("values.yaml"), "SparkApplication"))
    app["spec"]["restartPolicy"]["type"] = "Sometimes"
    assert any("restartPolicy" in p for p in errors(app))


def test_the_validator_checks_the_kafka_user_structurally(render):
    user = copy.deepcopy(one(render("ci/tls-values.yaml"), "KafkaUser"))
    assert errors(user) == []
    user["spec"]["authentication"]["type"] = "scram-sha-256"
    assert errors(user)


def test_the_vendored_crd_schemas_are_found():
    from .conftest import CRDS
    from .validation import crd_schemas

    kinds = {kind for _, kind in crd_schemas()}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "SparkApplication", "PodMonitor",
            "PrometheusRule"} <= kinds, f"CRDs missing under {CRDS}"


def test_the_validator_checks_the_scheduled_baseline_fit(render):
    fit = copy.deepcopy(one(render("values.yaml"), "ScheduledSparkApplication"))
    assert errors(fit) == []
    fit["spec"]["successfulRunHistoryLimit"] = "one"
    assert any("successfulRunHistoryLimit" in p for p in errors(fit))
    fit["spec"]["successfulRunHistoryLimit"] = 1
    fit["spec"]["template"]["driver"]["replicas"] = 2  # no such field in the template
    assert any("replicas" in p for p in errors(fit))
