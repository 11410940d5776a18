"""Scaling the generator Deployment gives replicas with distinct identities, hence disjoint
building sets: computed from the live pods with the generator's own code, as each container
would see its environment."""

from __future__ import annotations

import yaml
from harness import wait_for

from wattstream.config import load_config
from wattstream.generator.fleet import building_ids, replica_identity


def _container_env(pod: dict) -> dict[str, str]:
    """The generator container's environment as the kubelet sets it (fieldRefs resolved)."""
    c = pod["spec"]["containers"][0]
    env = {"HOSTNAME": pod["metadata"]["name"], "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            assert path == "metadata.name", path
            env[e["name"]] = pod["metadata"]["name"]
    return env


def _buildings(pod: dict, config_file) -> set[str]:
    env = _container_env(pod)
    cfg = load_config(config_file, env=env)
    replica = replica_identity(None, cfg.generator.replica_id, env)
    return set(building_ids(replica, cfg.generator.buildings))


def test_scaling_one_to_three_gives_disjoint_building_sets(cluster, tmp_path):
    rel = cluster.install("values-kind.yaml", namespace="p-scale")
    try:
        config = tmp_path / "wattstream.yaml"
        config.write_text(rel.get("configmap", "ws-wattstream-config")["data"]["wattstream.yaml"])
        selector = "app.kubernetes.io/component=generator"

        def running(n):
            pods = [p for p in rel.pods(selector) if p["status"].get("phase") == "Running"
                    and not p["metadata"].get("deletionTimestamp")]
            return pods if len(pods) == n else None

        (first,) = wait_for(lambda: running(1), 60, "one generator pod")
        cluster.cp.kubectl("scale", "deployment", "ws-wattstream-generator", "-n", rel.namespace,
                           "--replicas=3")
        pods = wait_for(lambda: running(3), 120, "three generator pods Running")
        assert first["metadata"]["name"] in {p["metadata"]["name"] for p in pods}
        sets = [_buildings(p, config) for p in pods]
        per_replica = yaml.safe_load(config.read_text())["generator"]["buildings"]
        assert all(len(s) == per_replica for s in sets)
        assert len(set().union(*sets)) == 3 * per_replica, "replicas share buildings"
    finally:
        cluster.remove(rel)
