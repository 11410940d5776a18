"""The chart's AlertmanagerConfig: the routing of examples/alertmanager.yaml in the operator's
form, receivers' credentials from a Secret, values that cannot work refused naming the field,
and the job's NetworkPolicy open towards Alertmanager."""

from __future__ import annotations

import pytest
import yaml

from wattstream import alert_types

from .conftest import CHART, NAMESPACE, HelmError, find, helm_template, one

PROFILE = "ci/alertmanager-values.yaml"
EXAMPLE = yaml.safe_load((CHART / "examples" / "alertmanager.yaml").read_text())


def _matchers(route: dict) -> list[str]:
    """AlertmanagerConfig matchers in the example's `name op "value"` form."""
    return [f'{m["name"]}{m.get("matchType", "=")}"{m.get("value", "")}"'
            for m in route.get("matchers", [])]


def test_off_by_default(render):
    assert not find(render("values.yaml"), "AlertmanagerConfig")


def test_routes_are_the_examples(render):
    amc = one(render(PROFILE), "AlertmanagerConfig")["spec"]
    ours = [(r["receiver"], _matchers(r), r.get("groupBy"), bool(r.get("muteTimeIntervals")))
            for r in amc["route"]["routes"]]
    example = [(r["receiver"], r["matchers"], r.get("group_by"),
                bool(r.get("mute_time_intervals"))) for r in EXAMPLE["route"]["routes"]]
    assert ours == example
    assert amc["route"]["groupBy"] == EXAMPLE["route"]["group_by"]
    inhibit = [(_matchers({"matchers": r["sourceMatch"]}),
                _matchers({"matchers": r["targetMatch"]}), r.get("equal"))
               for r in amc["inhibitRules"]]
    assert inhibit == [(r["source_matchers"], r["target_matchers"], r.get("equal"))
                       for r in EXAMPLE["inhibit_rules"]]


def test_every_alert_type_has_a_route_to_a_declared_receiver(render):
    amc = one(render(PROFILE), "AlertmanagerConfig")["spec"]
    declared = {r["name"] for r in amc["receivers"]}
    assert {amc["route"]["receiver"]} | {r["receiver"] for r in amc["route"]["routes"]} <= declared
    for t in alert_types.TABLE:  # each type meets a route matching its severity or category
        labels = {"alertname": t.name, "severity": t.severity, "category": t.category}
        hit = [r for r in amc["route"]["routes"]
               if all(labels.get(m["name"], "") == m["value"] for m in r["matchers"]
                      if m["matchType"] == "=")
               and all(m["matchType"] == "=" for m in r["matchers"])]
        assert hit, t.name


def test_credentials_come_from_the_secret(render):
    amc = one(render(PROFILE), "AlertmanagerConfig")["spec"]
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"name", "key"}:
                refs.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(amc["receivers"])
    keys = {r["key"] for r in refs}
    assert {r["name"] for r in refs} == {"wattstream-notify"}
    assert keys == {"smtp-password", "slack-url", "msteams-url", "pagerduty-routing-key",
                    "webhook-url"}
    facilities = next(r for r in amc["receivers"] if r["name"] == "facilities")
    assert facilities["emailConfigs"][0]["to"] == "facilities@example.com, energy@example.com"


def test_the_job_labels_its_notifications_with_the_namespace(render):
    cm = one(render(PROFILE), "ConfigMap", "-config")
    cfg = yaml.safe_load(cm["data"]["wattstream.yaml"])
    assert cfg["notify"]["labels"] == {"namespace": NAMESPACE}
    plain = yaml.safe_load(one(render("values.yaml"), "ConfigMap", "-config")["data"][
        "wattstream.yaml"])
    assert plain["notify"]["labels"] == {}


def test_the_job_may_reach_alertmanager_and_only_there(render):
    policy = one(render(PROFILE), "NetworkPolicy", "-job")
    rules = [e for e in policy["spec"]["egress"]
             if any(p.get("port") == 9093 for p in e.get("ports", []))]
    assert len(rules) == 1
    assert rules[0]["to"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "alertmanager"}
    plain = one(render("values.yaml"), "NetworkPolicy", "-job")
    assert not [e for e in plain["spec"]["egress"]
                if any(p.get("port") == 9093 for p in e.get("ports", []))]


def test_ports_follow_the_urls(render):
    policy = one(render("values.yaml", set={
        "config.notify.alertmanager_urls": "http://am-0:9093, https://am.example.com"}),
        "NetworkPolicy", "-job")
    ports = [p["port"] for e in policy["spec"]["egress"] for p in e.get("ports", [])]
    assert 9093 in ports and 443 in ports


@pytest.mark.parametrize(("set", "field"), [
    ({"config.notify.alertmanager_urls": ""}, "config.notify.alertmanager_urls"),
    ({"alertmanagerConfig.secretName": ""}, "alertmanagerConfig.receivers.facilities:"),
    ({"alertmanagerConfig.smtp.smarthost": ""}, "alertmanagerConfig.receivers.facilities.email"),
])
def test_values_that_cannot_work_fail_naming_the_field(helm, set, field):
    with pytest.raises(HelmError, match=field.replace(".", r"\.")):
        helm_template(helm, PROFILE, set=set)


def test_a_slack_channel_must_look_like_one(helm):
    with pytest.raises(HelmError, match="slackChannel"):
        helm_template(helm, PROFILE, set={
            "alertmanagerConfig.receivers.platform.slackChannel": "ops"})
