"""Template behaviour, read as sentences: what each value does to the rendered objects."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest
import yaml

from wattstream.config import from_dict

from .conftest import API_VERSIONS, NAMESPACE, SCENARIOS, HelmError, find, one


def _config(docs):
    return yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["wattstream.yaml"])


def _hdfs_site(docs) -> dict[str, str]:
    xml = one(docs, "ConfigMap", "-hdfs")["data"]["hdfs-site.xml"]
    return {p.findtext("name"): p.findtext("value") for p in ET.fromstring(xml).iter("property")}


# --- the wattstream config --------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_rendered_config_loads_as_a_wattstream_config(render, scenario):
    cfg = from_dict(_config(render(scenario)))
    assert cfg.metrics.host == "0.0.0.0"


def test_the_config_points_at_the_strimzi_bootstrap_service_and_hdfs(render):
    cfg = from_dict(_config(render("values.yaml")))
    bootstrap = f"ws-wattstream-kafka-kafka-bootstrap.{NAMESPACE}.svc.cluster.local:9092"
    assert cfg.kafka.bootstrap_servers == bootstrap
    assert cfg.storage.uri.startswith("hdfs://ws-wattstream-hdfs-namenode-0.ws-wattstream-hdfs-namenode.")
    assert cfg.storage.uri.endswith(":8020/wattstream/warehouse")
    assert cfg.storage.checkpoint_uri.endswith(":8020/wattstream/checkpoints")


def test_every_service_address_ends_with_the_cluster_domain(render):
    docs = render(set={"clusterDomain": "k8s.example.org"})
    cfg = from_dict(_config(docs))
    assert cfg.kafka.bootstrap_servers.endswith(f".{NAMESPACE}.svc.k8s.example.org:9092")
    assert cfg.storage.uri.startswith("hdfs://ws-wattstream-hdfs-namenode-0."
                                      f"ws-wattstream-hdfs-namenode.{NAMESPACE}.svc.k8s.example.org:")
    core_site = one(docs, "ConfigMap", "-hdfs")["data"]["core-site.xml"]
    assert f".{NAMESPACE}.svc.k8s.example.org:8020<" in core_site
    assert "cluster.local" not in yaml.safe_dump_all(docs)


def test_the_config_keeps_external_kafka_and_storage_when_the_chart_runs_neither(render):
    docs = render("ci/external-values.yaml")
    cfg = from_dict(_config(docs))
    assert cfg.kafka.bootstrap_servers.startswith("kafka-0.kafka.shared.svc:9092")
    assert cfg.storage.uri == "hdfs://namenode.storage.svc:8020/energy/warehouse"
    assert not find(docs, "Kafka") and not find(docs, "StatefulSet")


def test_values_flow_into_the_config_unchanged(render):
    docs = render(set={"config.alerts.peak_demand_kwh": 250.5, "config.windows.length_seconds": 60,
                       "config.job.starting_offsets": "latest"})
    cfg = from_dict(_config(docs))
    assert (cfg.alerts.peak_demand_kwh, cfg.windows.length_seconds) == (250.5, 60)
    assert cfg.job.starting_offsets == "latest"


def test_zero_generators_still_render_a_loadable_config(render):
    docs = render(set={"generator.replicas": 0})
    assert one(docs, "Deployment")["spec"]["replicas"] == 0
    assert from_dict(_config(docs)).generator.buildings >= 1


def test_the_generator_spool_is_an_emptydir_of_its_own_bounded_by_its_size(render):
    """The root filesystem is read-only; the spool (src/wattstream/generator/spool.py) lives
    in an emptyDir at /spool, so it outlasts a container restart, and the generator stops at
    the volume's size rather than the kubelet evicting the pod with its spool."""
    docs = render(set={"generator.spool.sizeMiB": 300})
    gen = from_dict(_config(docs)).generator
    assert (gen.spool_dir, gen.spool_max_bytes) == ("/spool", 300 * 2**20)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"name": mounts["/spool"], "emptyDir": {"sizeLimit": "332Mi"}} in pod["volumes"]


def test_a_spool_past_the_pods_ephemeral_storage_fails_naming_both_fields(render):
    with pytest.raises(HelmError, match=r"generator.resources.limits.ephemeral-storage: 1Gi "
                                        r"is less than generator.spool.sizeMiB \(1000\)"):
        render(set={"generator.spool.sizeMiB": 1000,
                    "generator.resources.limits.ephemeral-storage": "1Gi"})
    render(set={"generator.spool.sizeMiB": 960,
                "generator.resources.limits.ephemeral-storage": "1Gi"})


def test_per_building_overrides_reach_the_config(render):
    cfg = from_dict(_config(render("ci/scaled-values.yaml")))
    assert cfg.alerts.thresholds("B0001") == (90.0, 120.0)
    assert cfg.schema.timezone == "Europe/London"


def test_config_changes_roll_the_generators(render):
    def checksum(docs):
        return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"]

    assert checksum(render("values.yaml")) != checksum(render(set={"config.generator.seed": 7}))


# --- schema rejections name the field ---------------------------------------------------------

@pytest.mark.parametrize("key, value, field", [
    ("generator.replicas", -1, "/generator/replicas"),
    ("generator.replicas", "three", "/generator/replicas"),
    ("kafka.nodePool.replicas", 0, "/kafka/nodePool/replicas"),
    ("kafka.nodePool.storage.type", "nfs", "/kafka/nodePool/storage/type"),
    ("job.restartPolicy.type", "Never", "/job/restartPolicy/type"),
    ("job.image.tag", "latest", "/job/image/tag"),
    ("monitoring.interval", "often", "/monitoring/interval"),
    ("config.kafka.partitions", 0, "/config/kafka/partitions"),
    ("config.job.starting_offsets", "middle", "/config/job/starting_offsets"),
    ("config.kafka.readings_topic", "bad topic", "/config/kafka/readings_topic"),
    ("config.alerts.abnormal_sigma", 0, "/config/alerts/abnormal_sigma"),
    ("hdfs.datanode.replicas", 0, "/hdfs/datanode/replicas"),
    ("clusterDomain", "cluster.local.", "/clusterDomain"),
    ("kafka.entityOperator.userOperator.resources.limits.memory", "lots",
     "/kafka/entityOperator/userOperator/resources/limits/memory"),
])
def test_the_schema_rejects_a_bad_value_naming_its_field(render, key, value, field):
    with pytest.raises(HelmError, match=field):
        render(set={key: value})


def test_the_schema_rejects_an_unknown_key_naming_it(render):
    with pytest.raises(HelmError, match="'replicaCount' not allowed"):
        render(set={"generator.replicaCount": 2})
    with pytest.raises(HelmError, match="'master' not allowed"):
        render(set={"config.job.master": "local[*]"})


def test_contradicting_values_fail_with_a_readable_message(render):
    with pytest.raises(HelmError, match="hdfs.replication: 3 exceeds hdfs.datanode.replicas"):
        render(set={"hdfs.replication": 3, "hdfs.datanode.replicas": 1})
    with pytest.raises(HelmError, match="config.kafka.replication_factor: 3 exceeds"):
        render(set={"config.kafka.replication_factor": 3, "kafka.nodePool.replicas": 1})
    with pytest.raises(HelmError, match="config.alerts.peak_demand_kwh: must be >="):
        render(set={"config.alerts.peak_demand_kwh": 10.0})
    with pytest.raises(HelmError, match="config.metrics.generator_port: 0 disables"):
        render(set={"config.metrics.generator_port": 0})


# --- Kafka ------------------------------------------------------------------------------------

def test_kafka_runs_kraft_node_pools_with_metrics(render):
    docs = render("values.yaml")
    kafka = one(docs, "Kafka")
    assert "annotations" not in kafka["metadata"]  # no strimzi.io/kraft, /node-pools in 1.x
    assert kafka["spec"]["kafka"]["metricsConfig"]["type"] == "strimziMetricsReporter"
    pool = one(docs, "KafkaNodePool")
    assert pool["spec"]["roles"] == ["controller", "broker"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3


@pytest.mark.parametrize("storage", ["persistent-claim", "ephemeral"])
def test_kafka_pods_keep_fs_group_0_so_kafka_can_write_a_fresh_volume(render, storage):
    # A pod securityContext in the template replaces Strimzi's default one (fsGroup 0).
    kafka = one(render(set={"kafka.nodePool.storage.type": storage}), "Kafka")
    context = kafka["spec"]["kafka"]["template"]["pod"]["securityContext"]
    assert context["fsGroup"] == 0
    assert context["runAsNonRoot"] is True


def test_the_entity_operators_get_500Mi_of_memory_requested_and_limited(render):
    operators = one(render("ci/tls-values.yaml"), "Kafka")["spec"]["entityOperator"]
    for name in ("topicOperator", "userOperator"):
        resources = operators[name]["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"] == "500Mi"
    more = {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    kafka = one(render(set={"kafka.entityOperator.topicOperator.resources": more}), "Kafka")
    assert kafka["spec"]["entityOperator"]["topicOperator"]["resources"] == more


def test_the_kind_profile_runs_one_persistent_broker_and_one_datanode(render):
    """A broker restart on kind must keep the log (the job's offsets stay valid); the claim
    goes with the cluster."""
    docs = render("values-kind.yaml")
    assert one(docs, "KafkaNodePool")["spec"]["replicas"] == 1
    (volume,) = one(docs, "KafkaNodePool")["spec"]["storage"]["volumes"]
    assert volume["type"] == "persistent-claim" and volume["deleteClaim"] is True
    assert _config(docs)["job"]["fail_on_data_loss"] is False  # counted and alerted instead
    assert one(docs, "StatefulSet", "-datanode")["spec"]["replicas"] == 1
    assert one(docs, "Kafka")["spec"]["kafka"]["config"]["offsets.topic.replication.factor"] == 1


def test_topics_take_names_partitions_and_replicas_from_the_config(render):
    docs = render(set={"config.kafka.partitions": 12, "config.kafka.replication_factor": 2})
    topics = {t["spec"]["topicName"]: t["spec"] for t in find(docs, "KafkaTopic")}
    assert set(topics) == {"energy_data", "energy_alerts", "energy_data_dlq", "energy_weather"}
    assert (topics["energy_data"]["partitions"], topics["energy_data"]["replicas"]) == (12, 2)
    assert topics["energy_alerts"]["partitions"] == 1
    assert topics["energy_weather"]["partitions"] == 1
    docs = render(set={"config.kafka.weather_topic": ""})
    assert "energy_weather" not in {t["spec"]["topicName"] for t in find(docs, "KafkaTopic")}


def test_tls_replaces_the_plain_listener_with_scram_and_a_user_with_topic_acls(render):
    assert not find(render("values.yaml"), "KafkaUser")
    docs = render("ci/tls-values.yaml")
    listeners = {x["name"]: x for x in one(docs, "Kafka")["spec"]["kafka"]["listeners"]}
    assert set(listeners) == {"tls"}
    assert listeners["tls"]["tls"] is True
    assert listeners["tls"]["authentication"]["type"] == "scram-sha-512"
    user = one(docs, "KafkaUser", "energy-app")
    topics = {a["resource"]["name"] for a in user["spec"]["authorization"]["acls"]
              if a["resource"]["type"] == "topic"}
    assert topics == {"energy_data", "energy_alerts", "energy_data_dlq", "energy_weather"}


@pytest.mark.parametrize("scenario", ["ci/tls-values.yaml", "values-production.yaml"])
def test_with_tls_kafka_admits_no_unauthenticated_client(render, scenario):
    docs = render(scenario)
    kafka = one(docs, "Kafka")["spec"]["kafka"]
    assert [x for x in kafka["listeners"] if not x.get("authentication")] == []
    assert "ANONYMOUS" not in yaml.safe_dump(kafka)
    # The apps may reach the brokers only on the authenticated listener.
    to_kafka = [rule for p in find(docs, "NetworkPolicy") for rule in p["spec"]["egress"]
                if any("strimzi.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {})
                       for peer in rule.get("to", []))]
    assert to_kafka and all(rule["ports"] == [{"protocol": "TCP", "port": 9093}]
                            for rule in to_kafka)
    assert _config(docs)["kafka"]["bootstrap_servers"].endswith(":9093")


def test_without_tls_the_apps_reach_only_the_plain_listener(render):
    docs = render("values.yaml")
    assert [x["port"] for x in one(docs, "Kafka")["spec"]["kafka"]["listeners"]] == [9092]
    egress = one(docs, "NetworkPolicy", "-generator")["spec"]["egress"]
    assert [r["ports"] for r in egress if "to" in r] == [[{"protocol": "TCP", "port": 9092}]]


# --- HDFS -------------------------------------------------------------------------------------

def test_hdfs_avoids_the_known_registration_traps(render):
    site = _hdfs_site(render("values.yaml"))
    assert site["dfs.namenode.datanode.registration.ip-hostname-check"] == "false"
    assert site["dfs.namenode.rpc-bind-host"] == "0.0.0.0"
    assert site["dfs.replication"] == "1"


def test_the_namenode_is_formatted_only_when_its_directory_is_empty(render):
    nn = one(render("values.yaml"), "StatefulSet", "-namenode")
    script = nn["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert "if [ -f /data/namenode/current/VERSION ]" in script
    assert "hdfs namenode -format -nonInteractive" in script
    svc = one(render("values.yaml"), "Service", "-namenode")
    assert svc["spec"]["clusterIP"] == "None"


def test_datanode_replicas_follow_the_values(render):
    docs = render(set={"hdfs.datanode.replicas": 5, "hdfs.replication": 3})
    assert one(docs, "StatefulSet", "-datanode")["spec"]["replicas"] == 5
    assert _hdfs_site(docs)["dfs.replication"] == "3"


# --- generator and job ------------------------------------------------------------------------

def test_generator_replicas_follow_the_values_and_each_pod_is_its_own_replica(render):
    dep = one(render(set={"generator.replicas": 3}), "Deployment")
    assert dep["spec"]["replicas"] == 3
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WATTSTREAM_GENERATOR__REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.name"
    assert env["WATTSTREAM_CONFIG"]["value"] == "/etc/wattstream/wattstream.yaml"


def test_generator_and_job_can_be_turned_off(render):
    docs = render("ci/minimal-values.yaml")
    assert not find(docs, "Deployment") and not find(docs, "SparkApplication")
    assert not find(docs, "Role") and not find(docs, "PodMonitor")


def test_the_spark_application_runs_the_job_with_a_streaming_restart_policy(render):
    spec = one(render("values.yaml"), "SparkApplication")["spec"]
    assert (spec["type"], spec["mode"]) == ("Python", "cluster")
    assert spec["arguments"] == ["job"]
    assert spec["restartPolicy"]["type"] == "Always"
    assert "deps" not in spec  # the Kafka connector is baked into the image
    conf = spec["sparkConf"]
    assert conf["spark.metrics.conf.*.sink.prometheusServlet.class"] == \
        "org.apache.spark.metrics.sink.PrometheusServlet"
    assert conf["spark.ui.prometheus.enabled"] == "true"
    driver = spec["driver"]["template"]["spec"]["containers"][0]
    assert driver["name"] == "spark-kubernetes-driver"
    assert {"name": "metrics", "containerPort": 9108, "protocol": "TCP"} in driver["ports"]


def test_on_failure_restarts_carry_retries(render):
    spec = one(render("ci/scaled-values.yaml"), "SparkApplication")["spec"]
    assert spec["restartPolicy"]["type"] == "OnFailure"
    assert spec["restartPolicy"]["onFailureRetries"] == 3
    assert spec["executor"]["instances"] == 3
    assert "RocksDBStateStoreProvider" in \
        spec["sparkConf"]["spark.sql.streaming.stateStore.providerClass"]


def test_the_driver_role_is_namespaced_and_minimal(render):
    docs = render("values.yaml")
    assert not find(docs, "ClusterRole")
    role = one(docs, "Role")
    verbs = {v for r in role["rules"] for v in r["verbs"]}
    assert "*" not in verbs and "escalate" not in verbs and "bind" not in verbs
    assert {r for rule in role["rules"] for r in rule["resources"]} == \
        {"pods", "services", "configmaps", "persistentvolumeclaims"}
    binding = one(docs, "RoleBinding")
    sa = one(docs, "SparkApplication")["spec"]["driver"]["serviceAccount"]
    assert binding["subjects"][0]["name"] == sa


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_runs_as_non_root_with_limits(render, scenario):
    for d in render(scenario):
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"] + pod.get("initContainers", []):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"]


# --- monitoring, dashboards, network policies --------------------------------------------------

def test_monitoring_objects_carry_the_release_label(render):
    docs = render(set={"monitoring.release": "prom-stack"})
    monitors = find(docs, "PodMonitor") + find(docs, "PrometheusRule")
    assert len(monitors) == 4
    assert all(m["metadata"]["labels"]["release"] == "prom-stack" for m in monitors)


def test_an_empty_release_renders_no_release_label(render):
    for m in find(render(set={"monitoring.release": ""}), "PodMonitor"):
        assert "release" not in m["metadata"]["labels"]


def test_no_monitoring_objects_without_the_prometheus_operator_api(render):
    apis = tuple(a for a in API_VERSIONS if not a.startswith("monitoring."))
    docs = render(api_versions=apis)
    assert not find(docs, "PodMonitor") and not find(docs, "PrometheusRule")


def test_no_monitoring_objects_when_monitoring_is_disabled(render):
    docs = render(set={"monitoring.enabled": False})
    assert not find(docs, "PodMonitor") and not find(docs, "PrometheusRule")


def test_pod_monitors_select_the_generator_the_driver_and_kafka(render):
    docs = render("values.yaml")
    gen = one(docs, "PodMonitor", "-generator")
    assert gen["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    job = one(docs, "PodMonitor", "-job")
    assert job["spec"]["selector"]["matchLabels"]["spark-role"] == "driver"
    assert [e["path"] for e in job["spec"]["podMetricsEndpoints"]] == \
        ["/metrics", "/metrics/prometheus"]
    kafka = one(docs, "PodMonitor", "-kafka")
    assert kafka["spec"]["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"
    for m in (gen, job):
        assert {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
                "targetLabel": "component"} in m["spec"]["podMetricsEndpoints"][0]["relabelings"]


def test_the_dashboard_configmap_carries_the_sidecar_label(render):
    cm = one(render(set={"dashboards.label": "grafana_dash"}), "ConfigMap", "-wattstream-energy")
    assert cm["metadata"]["labels"]["grafana_dash"] == "1"
    assert '"uid": "wattstream-energy"' in cm["data"]["wattstream-energy.json"]
    assert not find(render(set={"dashboards.enabled": False}), "ConfigMap", "-wattstream-energy")


def test_network_policies_cover_every_pod_and_can_be_turned_off(render):
    docs = render("values.yaml")
    policies = find(docs, "NetworkPolicy")
    selectors = [p["spec"]["podSelector"]["matchLabels"] for p in policies]
    for workload in find(docs, "Deployment") + find(docs, "StatefulSet"):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in s.items()) for s in selectors), \
            workload["metadata"]["name"]
    for cron in find(docs, "CronJob"):
        labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in s.items()) for s in selectors), \
            cron["metadata"]["name"]
    assert all(p["spec"]["policyTypes"] == ["Ingress", "Egress"] for p in policies)
    assert not find(render(set={"networkPolicy.enabled": False}), "NetworkPolicy")


def _admits_the_kubelet(policy, port) -> bool:
    """Whether an ingress rule lets the port in from a node: no peers (any source) or an ipBlock
    (pod and namespace selectors never match a node's address)."""
    return any(
        (not rule.get("ports") or port in [p["port"] for p in rule["ports"]])
        and (not rule.get("from") or any("ipBlock" in peer for peer in rule["from"]))
        for rule in policy["spec"].get("ingress", []))


@pytest.mark.parametrize("scenario, values", [(s, {}) for s in SCENARIOS] + [
    ("values-production.yaml", {"networkPolicy.probeFrom": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}),
])
def test_network_policies_admit_every_probe_from_the_kubelet(render, scenario, values):
    docs = render(scenario, set=values)
    probed = 0
    # The pod templates of Deployments, StatefulSets and the SparkApplication's driver.
    templates = [w["spec"]["template"]
                 for w in find(docs, "Deployment") + find(docs, "StatefulSet")]
    templates += [a["spec"]["driver"]["template"] for a in find(docs, "SparkApplication")]
    for template in templates:
        labels = template["metadata"]["labels"]
        policies = [p for p in find(docs, "NetworkPolicy") if all(
            labels.get(k) == v for k, v in p["spec"]["podSelector"]["matchLabels"].items())]
        for c in template["spec"]["containers"]:
            named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                action = c.get(kind, {}).get("httpGet") or c.get(kind, {}).get("tcpSocket")
                if action:
                    port = named.get(action["port"], action["port"])
                    probed += 1
                    assert any(_admits_the_kubelet(p, port) for p in policies), \
                        f"{labels}: probe port {port} closed"
    assert probed or not (find(docs, "Deployment") or find(docs, "SparkApplication"))


def test_probe_from_narrows_the_probe_ports_to_the_given_peers(render):
    nodes = [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    ingress = one(render(set={"networkPolicy.probeFrom": nodes}), "NetworkPolicy",
                  "-generator")["spec"]["ingress"]
    assert {"ports": [{"protocol": "TCP", "port": 9109}], "from": nodes} in ingress


@pytest.mark.parametrize("component", ["namenode", "datanode"])
def test_hdfs_probes_run_inside_the_container_and_hdfs_admits_only_its_peers(render, component):
    """A node-reachable probe would need RPC or WebHDFS (open to anyone with permissions off)
    admitted from every source; an in-container check needs no port at all."""
    docs = render()
    pod = one(docs, "StatefulSet", f"-hdfs-{component}")["spec"]["template"]["spec"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert set(pod["containers"][0][probe]) & {"httpGet", "tcpSocket"} == set()
        assert pod["containers"][0][probe]["exec"]["command"][:2] == ["bash", "-c"]
    ingress = one(docs, "NetworkPolicy", f"-hdfs-{component}")["spec"]["ingress"]
    assert all(rule.get("from") for rule in ingress)


def test_the_kafka_listener_admits_only_the_release_clients(render):
    plain = one(render("values.yaml"), "Kafka")["spec"]["kafka"]["listeners"][0]
    assert [p["podSelector"]["matchLabels"] for p in plain["networkPolicyPeers"]] == [
        {"app.kubernetes.io/name": "wattstream", "app.kubernetes.io/instance": "ws",
         "app.kubernetes.io/component": c} for c in ("generator", "job")]


def test_the_job_may_reach_external_storage_when_the_chart_runs_no_hdfs(render):
    def egress_ports(docs):
        policy = one(docs, "NetworkPolicy", "-job")
        return {p["port"] for rule in policy["spec"]["egress"] if "to" not in rule
                for p in rule.get("ports", [])}

    assert 8020 not in egress_ports(render("values.yaml"))  # only the release's NameNode
    assert {8020, 9866, 443} <= egress_ports(render("ci/external-values.yaml"))


def test_with_tls_the_apps_authenticate_with_the_kafka_user_over_tls(render):
    docs = render("ci/tls-values.yaml")
    cfg = from_dict(_config(docs))
    k = cfg.kafka
    assert k.bootstrap_servers.endswith(":9093")
    assert (k.security_protocol, k.sasl_mechanism, k.sasl_username) == (
        "SASL_SSL", "SCRAM-SHA-512", "energy-app")
    user = one(docs, "KafkaUser")
    assert user["metadata"]["name"] == "energy-app"
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    secrets = {v["name"]: v["secret"]["secretName"]
               for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
               if "secret" in v}
    assert secrets["kafka-user"] == "energy-app"
    assert secrets["kafka-ca"].endswith("-cluster-ca-cert")
    app = one(docs, "SparkApplication")["spec"]
    for role in ("driver", "executor"):
        volumes = app[role]["template"]["spec"]["volumes"]
        assert {v["name"] for v in volumes} >= {"kafka-user", "kafka-ca"}
    for pod in (app["driver"]["template"]["spec"]["containers"][0],
                app["executor"]["template"]["spec"]["containers"][0],
                one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]):
        mounts = {m["name"]: m["mountPath"] for m in pod["volumeMounts"]}
        assert k.sasl_password_file == mounts["kafka-user"] + "/password"
        assert k.ssl_cafile == mounts["kafka-ca"] + "/ca.crt"


def test_without_tls_the_apps_use_the_plain_listener(render):
    cfg = from_dict(_config(render()))
    assert cfg.kafka.bootstrap_servers.endswith(":9092")
    assert cfg.kafka.security_protocol == "PLAINTEXT"
    volumes = one(render(), "SparkApplication")["spec"]["driver"]["template"]["spec"]["volumes"]
    assert "kafka-user" not in {v["name"] for v in volumes}


def test_the_baseline_fit_runs_on_a_schedule_with_the_jobs_image_config_and_storage(render):
    docs = render("values.yaml")
    fit = one(docs, "ScheduledSparkApplication")
    app = one(docs, "SparkApplication")["spec"]
    spec = fit["spec"]
    assert spec["schedule"] == "30 2 * * *" and spec["concurrencyPolicy"] == "Forbid"
    t = spec["template"]
    assert t["arguments"] == ["baseline"] and t["restartPolicy"] == {"type": "Never"}
    assert (t["image"], t["mainApplicationFile"]) == (app["image"], app["mainApplicationFile"])
    assert t.get("hadoopConf") == app.get("hadoopConf")
    # The same config file (baseline section, storage) as the job's driver.
    assert t["driver"]["template"]["spec"]["volumes"] == app["driver"]["template"]["spec"][
        "volumes"]
    assert not find(render(set={"job.baseline.enabled": False}), "ScheduledSparkApplication")
    assert not find(render(set={"job.enabled": False}), "ScheduledSparkApplication")


def test_the_carbon_profile_ships_next_to_the_config_and_the_tariff_reads_it(render, tmp_path):
    from wattstream.tariff import Tariff

    data = one(render("ci/tariff-values.yaml"), "ConfigMap", "-config")["data"]
    cfg = from_dict(yaml.safe_load(data["wattstream.yaml"]))
    assert cfg.tariff.carbon_profile == "/etc/wattstream/carbon-profile.csv"
    assert sorted(cfg.tariff.changes) == ["2027-01-01"]
    mounted = tmp_path / "carbon-profile.csv"
    mounted.write_text(data["carbon-profile.csv"])
    tariff = Tariff(dataclasses.replace(cfg.tariff, carbon_profile=str(mounted)))
    # 2026-06-09 10:13 UTC is 06:13 in New York: the profile's hour 6.
    assert tariff.carbon_kg_per_kwh([1_781_000_000]).tolist() == [0.36]
    assert "carbon-profile.csv" not in one(render("values.yaml"), "ConfigMap", "-config")["data"]


def test_a_bad_tariff_value_fails_the_render_naming_it(render):
    with pytest.raises(HelmError, match="ratchet_share"):
        render("values.yaml", set={"config.tariff.ratchet_share": 2})


def test_the_report_cronjob_runs_the_report_in_the_job_image_and_reaches_hdfs(render):
    docs = render("values.yaml")
    cron = one(docs, "CronJob", "-report")
    assert cron["spec"]["schedule"] == "0 6 * * *"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == one(docs, "SparkApplication")["spec"]["image"]
    assert c["command"][:3] == ["/opt/spark/bin/spark-submit", "--master", "local[2]"]
    assert c["command"][-2:] == ["/opt/wattstream/job_main.py", "report"]
    assert "spark.hadoop.dfs.replication=1" in c["command"]
    assert {"name": "WATTSTREAM_CONFIG", "value": "/etc/wattstream/wattstream.yaml"} in c["env"]
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    for name in ("-hdfs-namenode", "-hdfs-datanode"):
        peers = [peer["podSelector"]["matchLabels"] for rule in one(
            docs, "NetworkPolicy", name)["spec"]["ingress"] for peer in rule.get("from", [])
            if "podSelector" in peer]
        assert labels in peers, name
    assert not find(render(set={"job.report.enabled": False}), "CronJob")
    assert not find(render(set={"job.enabled": False}), "CronJob")


def test_the_scheduled_fit_and_the_report_reach_hdfs(render):
    """Both batch components read the windows on HDFS: the NameNode and DataNode policies
    admit their pods (labelled by component), and drop them with the component."""
    docs = render("values.yaml")

    def peers(d):
        return [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for name in ("-hdfs-namenode", "-hdfs-datanode")
                for rule in one(d, "NetworkPolicy", name)["spec"]["ingress"]
                for peer in rule.get("from", []) if "podSelector" in peer]

    assert {"job", "baseline", "report"} <= set(peers(docs))
    off = render(set={"job.baseline.enabled": False, "job.report.enabled": False})
    assert not {"baseline", "report"} & set(peers(off))
