"""Kubernetes NetworkPolicy semantics over live objects: which pods a policy selects and whether
a TCP/UDP connection between two pods (or from outside the cluster's pods) is admitted.

Follows networking.k8s.io/v1: a pod is isolated for a direction once any policy with that
policyType selects it; then a connection needs a rule of one selecting policy that admits the
peer and the port, on both the sender's egress and the receiver's ingress side.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """A pod (name, namespace, labels, named ports) or, with pod None, an address outside."""

    namespace: str | None
    labels: dict
    name: str = ""
    ports: tuple = ()  # (name, containerPort, protocol)
    ip: str | None = None  # only for addresses outside pods (ipBlock peers)

    @classmethod
    def of(cls, pod: dict) -> Endpoint:
        ports = tuple((p.get("name"), p["containerPort"], p.get("protocol", "TCP"))
                      for c in pod["spec"]["containers"] for p in c.get("ports", []))
        return cls(pod["metadata"]["namespace"], pod["metadata"].get("labels", {}),
                   pod["metadata"]["name"], ports)


def selects(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; {} selects all."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policy_selects(policy: dict, pod: Endpoint) -> bool:
    return (pod.namespace == policy["metadata"]["namespace"]
            and selects(policy["spec"].get("podSelector", {}), pod.labels))


def _types(policy: dict) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def _peer_matches(peer: dict, other: Endpoint, policy_ns: str,
                  namespaces: dict[str, dict]) -> bool:
    if "ipBlock" in peer:
        return other.ip is not None and _in_cidr(other.ip, peer["ipBlock"])
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespaces.get(other.namespace, {})):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(rule_ports: list | None, port: int, protocol: str, target: Endpoint) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):  # a named port of the receiving pod
            want = next((n for name, n, proto in target.ports
                         if name == want and proto == protocol), None)
        if want is not None and (want == port or want <= port <= p.get("endPort", want)):
            return True
    return False


def _in_cidr(ip: str, block: dict) -> bool:
    import ipaddress

    addr = ipaddress.ip_address(ip)
    if addr not in ipaddress.ip_network(block["cidr"], strict=False):
        return False
    return not any(addr in ipaddress.ip_network(x, strict=False) for x in block.get("except", []))


def admitted(policies: list[dict], namespaces: dict[str, dict], src: Endpoint, dst: Endpoint,
             port: int, protocol: str = "TCP") -> bool:
    """Whether src may open a connection to dst:port under `policies`."""
    return (_side(policies, namespaces, src, dst, port, protocol, "Egress")
            and _side(policies, namespaces, dst, src, port, protocol, "Ingress"))


def _side(policies, namespaces, pod: Endpoint, peer: Endpoint, port, protocol, kind) -> bool:
    if pod.namespace is None:  # outside the cluster's pods: no policy applies
        return True
    relevant = [p for p in policies if kind in _types(p) and policy_selects(p, pod)]
    if not relevant:
        return True
    target = peer if kind == "Egress" else pod
    key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    for p in relevant:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(x, peer, p["metadata"]["namespace"], namespaces)
                                 for x in peers):
                continue
            if _port_matches(rule.get("ports"), port, protocol, target):
                return True
    return False
