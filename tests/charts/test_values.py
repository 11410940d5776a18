"""values.yaml, values.schema.json and the README agree with each other and with config.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

import pytest
import yaml

from wattstream import config as wconfig

from .conftest import CHART

sys.path.insert(0, str(CHART))
import gen_config  # noqa: E402
import gen_values_doc  # noqa: E402

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def _walk(schema, path=""):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")


def test_every_values_key_is_documented():
    assert gen_values_doc.undocumented() == []


def test_the_readme_values_table_is_up_to_date():
    proc = subprocess.run([sys.executable, str(CHART / "gen_values_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_the_chart_config_is_generated_from_config_py():
    """values.schema.json's `config` part and the `config:` comments of values.yaml are what
    charts/wattstream/gen_config.py writes from config.py (each key described once)."""
    proc = subprocess.run([sys.executable, str(CHART / "gen_config.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_drifted_config_comment_is_rewritten_and_the_chart_note_kept():
    text = (CHART / "values.yaml").read_text()
    drifted = (text.replace("    # -- Topic of raw readings.\n", "    # -- Raw readings.\n")
               .replace("    # -- Partitions of the readings topic.\n", "    # -- Partitions.\n"))
    assert drifted != text
    assert "# Chart: also the KafkaTopic's partitions." in text
    assert gen_config.render_values(drifted) == text


def test_every_schema_description_of_a_config_key_is_its_config_py_doc():
    fields = {(s, n): meta for s, n, _, meta in _config_fields()}
    config_schema = SCHEMA["properties"]["config"]["properties"]
    for section, node in config_schema.items():
        for name, leaf in node["properties"].items():
            assert leaf["description"] == wconfig.sentence(fields[(section, name)]["doc"])


def test_the_doc_parser_sees_a_missing_comment(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("# -- documented group\ngroup:\n  # -- a leaf\n  leaf: 1\n  bare: 2\n")
    assert gen_values_doc.undocumented(values) == ["group.bare"]
    assert [r[0] for r in gen_values_doc.rows(values)] == ["group.leaf"]


def test_every_schema_property_has_a_description_and_objects_are_closed():
    for path, node in _walk(SCHEMA):
        if path and not path.endswith(("*", "[]")):
            assert node.get("description"), f"{path}: no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path}: accepts unknown keys"


def test_the_schema_and_values_yaml_have_the_same_keys():
    def keys(values, schema, prefix=""):
        props = schema.get("properties")
        if props is None:  # a free-form map (labels, resources, ...)
            return
        assert set(values) == set(props), f"{prefix or 'top level'}: {set(values) ^ set(props)}"
        for k, v in values.items():
            if isinstance(v, dict):
                keys(v, props[k], f"{prefix}.{k}".lstrip("."))

    keys(VALUES, SCHEMA)


def _config_fields():
    for section, cls in typing.get_type_hints(wconfig.Config).items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield section, f.name, hints[f.name], f.metadata


def test_the_schema_mirrors_the_bounds_of_config_py():
    """Every config key the chart accepts exists in config.py with the same type and bounds,
    so a value helm accepts never fails when the pod loads its config."""
    fields = {(s, n): (tp, meta) for s, n, tp, meta in _config_fields()}
    config_schema = SCHEMA["properties"]["config"]["properties"]
    checked = 0
    for section, sec_schema in config_schema.items():
        for name, node in sec_schema["properties"].items():
            assert (section, name) in fields, f"config.{section}.{name} is not in config.py"
            tp, meta = fields[(section, name)]
            if tp in (int, float, str, bool):
                want = {int: "integer", float: "number", str: "string", bool: "boolean"}[tp]
                assert node["type"] == want, f"config.{section}.{name}"
                assert node.get("minimum") == meta.get("min"), f"config.{section}.{name} minimum"
                assert node.get("maximum") == meta.get("max"), f"config.{section}.{name} maximum"
                assert node.get("enum") == (list(meta["choices"]) if meta.get("choices")
                                            else None), f"config.{section}.{name} choices"
                assert node.get("pattern") == meta.get("pattern"), f"config.{section}.{name}"
                checked += 1
    assert checked >= 25


@pytest.mark.parametrize("scenario", ["values-kind.yaml", "values-production.yaml"])
def test_profiles_only_use_known_keys(scenario):
    import jsonschema

    merged = yaml.safe_load((CHART / scenario).read_text())
    jsonschema.Draft7Validator(SCHEMA).validate(merged)  # partial values are valid on their own


def test_cluster_versions_equal_the_local_ones_in_pom_xml():
    import re
    import xml.etree.ElementTree as ET

    from .conftest import ROOT

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(ROOT / "pom.xml").getroot().find("m:properties", ns)
    pom = {el.tag.split("}")[1]: el.text for el in props}
    assert VALUES["kafka"]["version"] == pom["kafka.version"]
    assert VALUES["hdfs"]["image"]["tag"] == pom["hadoop.version"]
    assert VALUES["job"]["sparkVersion"] == pom["spark.version"]
    job_image = (ROOT / "images" / "job" / "Dockerfile").read_text()
    assert re.search(rf"apache/spark:{re.escape(pom['spark.version'])}-", job_image)


def test_every_config_key_is_in_the_chart_or_listed_as_not_exposed_with_a_reason():
    """config.py's keys are the chart schema's `config` keys plus those
    config-not-exposed.yaml names, each with a reason; none in both, none unknown."""
    listed = yaml.safe_load((CHART / "config-not-exposed.yaml").read_text())
    keys = {f"{s}.{n}" for s, n, _, _ in _config_fields()}
    schema = {f"{s}.{n}" for s, node in SCHEMA["properties"]["config"]["properties"].items()
              for n in node["properties"]}
    assert all(isinstance(v, str) and len(v) > 10 for v in listed.values())
    assert set(listed) - keys == set(), "listed but not in config.py"
    assert set(listed) & schema == set(), "listed as not exposed, yet in the schema"
    assert keys - schema - set(listed) == set(), "neither in the chart nor listed"
