"""Strict validation of rendered manifests: core kinds against the Kubernetes 1.33 schemas
bundled by kubernetes-validate (offline), custom resources against the openAPIV3Schema of their
CRD vendored in k8s-tests/crds, with unknown fields forbidden wherever the CRD does not allow them.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from .conftest import CRDS, KUBE_VERSION

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# API groups of Kubernetes itself; any other dotted group is served by an operator's CRD.
_CORE_GROUPS = ("apps", "rbac.authorization.k8s.io", "networking.k8s.io", "policy", "batch")


def is_custom(api_version: str) -> bool:
    """Whether an apiVersion belongs to a custom resource (validated against a vendored CRD)."""
    group = api_version.split("/")[0]
    return "." in group and group not in _CORE_GROUPS


def python_regex(pattern: str) -> str:
    """A Go (RE2) pattern in Python's syntax: RE2's `((?i)a|b)` sets the flag up to the end of
    its group, which Python writes `((?i:a|b))`."""
    while (at := pattern.find("((?i)")) >= 0:
        depth, i = 0, at
        while i < len(pattern):
            c = pattern[i]
            if c == "\\":
                i += 2
                continue
            depth += (c == "(") - (c == ")")
            if depth == 0:
                break
            i += 1
        pattern = pattern[:at] + "((?i:" + pattern[at + 5:i] + ")" + pattern[i:]
    return pattern


def strict(schema: dict) -> dict:
    """A copy of an OpenAPI v3 schema where every object with declared properties rejects
    unknown ones (unless the CRD says x-kubernetes-preserve-unknown-fields)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                node["pattern"] = python_regex(node["pattern"])
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return schema


class CrdLoader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (AlertmanagerConfig's matchType enum) as YAML 1.1's value tag;
    Kubernetes reads it as the string it is."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def load_crds(path: Path) -> list:
    return list(yaml.load_all(path.read_text(), Loader=CrdLoader))  # noqa: S506 - a SafeLoader


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict schema, for every CRD file in k8s-tests/crds."""
    out = {}
    for path in sorted(Path(CRDS).rglob("*.yaml")):
        for crd in load_crds(path):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    out[(f"{group}/{version['name']}", kind)] = schema
    return out


def errors(doc: dict) -> list[str]:
    """Every schema violation of one manifest (empty when valid)."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    problems = []
    name = doc.get("metadata", {}).get("name", "")
    if not _DNS_LABEL.match(name) or len(name) > 63:
        problems.append(f"{where}: metadata.name {name!r} is not a DNS-1123 label")
    key = (doc.get("apiVersion"), doc.get("kind"))
    if is_custom(key[0]):
        schema = crd_schemas().get(key)
        if schema is None:
            return problems + [f"{where}: no CRD schema for {key[0]} {key[1]}"]
        validator = jsonschema.Draft7Validator(schema)
        for e in validator.iter_errors(doc):
            path = ".".join(str(p) for p in e.absolute_path)
            problems.append(f"{where}: {path}: {e.message}")
        return problems
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        problems.append(f"{where}: {path}: {e.message}")
    return problems
