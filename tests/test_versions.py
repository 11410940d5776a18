"""Kafka, Spark and Hadoop versions live in pom.xml; everything else must agree with it."""

import re
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pyspark

ROOT = Path(__file__).resolve().parents[1]
NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_versions() -> dict[str, str]:
    props = ET.parse(ROOT / "pom.xml").getroot().find("m:properties", NS)
    return {el.tag.split("}")[1]: el.text for el in props}


def test_pyspark_matches_spark_version():
    pins = (ROOT / "pyproject.toml").read_text()
    spark = pom_versions()["spark.version"]
    assert f'"pyspark=={spark}"' in pins
    assert version("pyspark") == spark


def test_hdfs_server_matches_the_hadoop_client_in_pyspark():
    jars = Path(pyspark.__file__).parent / "jars"
    bundled = {m.group(1) for p in jars.glob("hadoop-client-api-*.jar")
               if (m := re.search(r"hadoop-client-api-(.+)\.jar", p.name))}
    assert bundled == {pom_versions()["hadoop.version"]}


def test_kafka_is_what_strimzi_deploys():
    # Strimzi 1.2.0 deploys Kafka 4.3.1 by default; the local broker must be the same.
    assert pom_versions()["kafka.version"] == "4.3.1"
