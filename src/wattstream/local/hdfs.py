"""A single-node HDFS (one NameNode, one DataNode) on loopback, from the jars of pom.xml."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from ..config import Config
from . import jvm
from .procs import LOOPBACK, Service, StackError, require_free, run_checked, wait_until

NAMENODE, DATANODE = "hdfs-namenode", "hdfs-datanode"

_LOG4J = """\
log4j.rootLogger=WARN,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.hdfs.server.namenode.NameNode=INFO
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode=INFO
"""


def uri(cfg: Config) -> str:
    return f"hdfs://{LOOPBACK}:{cfg.local.hdfs_port}"


def _site(props: dict[str, str]) -> str:
    body = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n"
                   for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def _write_conf(cfg: Config, home: Path) -> Path:
    loc = cfg.local
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "core-site.xml").write_text(_site({
        "fs.defaultFS": uri(cfg),
        "hadoop.tmp.dir": str(home / "tmp"),
    }))
    (conf / "hdfs-site.xml").write_text(_site({
        "dfs.namenode.name.dir": str(home / "name"),
        "dfs.datanode.data.dir": str(home / "data"),
        # One DataNode: a higher replication would leave every block under-replicated.
        "dfs.replication": "1",
        "dfs.namenode.rpc-address": f"{LOOPBACK}:{loc.hdfs_port}",
        "dfs.namenode.rpc-bind-host": LOOPBACK,
        "dfs.namenode.http-address": f"{LOOPBACK}:{loc.hdfs_http_port}",
        "dfs.namenode.http-bind-host": LOOPBACK,
        "dfs.namenode.servicerpc-bind-host": LOOPBACK,
        "dfs.namenode.lifeline.rpc-bind-host": LOOPBACK,
        "dfs.datanode.address": f"{LOOPBACK}:{loc.datanode_port}",
        "dfs.datanode.http.address": f"{LOOPBACK}:{loc.datanode_http_port}",
        "dfs.datanode.ipc.address": f"{LOOPBACK}:{loc.datanode_ipc_port}",
        "dfs.datanode.hostname": LOOPBACK,
        "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        "dfs.namenode.secondary.http-address": f"{LOOPBACK}:0",
        "dfs.permissions.enabled": "false",
        # Leave safe mode as soon as the single DataNode has reported.
        "dfs.namenode.safemode.extension": "0",
        "dfs.namenode.safemode.min.datanodes": "1",
        "dfs.heartbeat.interval": "1",
    }))
    (conf / "log4j.properties").write_text(_LOG4J)
    # The daemons' HTTP servers look up `webapps/<name>` on the classpath; the Maven jars do not
    # carry the UI resources of a Hadoop tarball, and empty folders are enough for /jmx.
    for app in ("hdfs", "datanode"):
        (conf / "webapps" / app / "WEB-INF").mkdir(parents=True, exist_ok=True)
    return conf


def _jmx(cfg: Config, bean: str) -> dict:
    url = f"http://{LOOPBACK}:{cfg.local.hdfs_http_port}/jmx?qry=Hadoop:service=NameNode,name={bean}"
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.load(resp)["beans"][0]


def ready(cfg: Config) -> bool:
    """NameNode out of safe mode with at least one live DataNode that has reported its space
    (until its first heartbeat the NameNode has nowhere to place a block: a write then fails,
    e.g. WebHDFS CREATE with 403 "Failed to find datanode")."""
    info = _jmx(cfg, "NameNodeInfo")
    state = _jmx(cfg, "FSNamesystemState")
    return (info.get("Safemode", "") == "" and state.get("NumLiveDataNodes", 0) >= 1
            and state.get("CapacityRemaining", 0) > 0)


def healthy(cfg: Config) -> bool:
    try:
        return ready(cfg)
    except Exception:  # noqa: BLE001
        return False


def services(run_dir: Path) -> tuple[Service, Service]:
    return Service(NAMENODE, run_dir), Service(DATANODE, run_dir)


def _daemon(cfg: Config, run_dir: Path) -> tuple[str, list[str], str]:
    """(java, JVM options, classpath) of the daemons, their configuration written."""
    home = Path(run_dir) / "hdfs"
    conf = _write_conf(cfg, home)
    jopts = ["-Xmx512m", f"-Dhadoop.log.dir={home / 'logs'}", "-Dhadoop.home.dir=" + str(home)]
    return jvm.java(), jopts, jvm.classpath("hdfs", conf)


def start(cfg: Config, run_dir: Path) -> tuple[Service, Service]:
    """Format the NameNode on first use, start NameNode and DataNode, wait for safe mode off."""
    nn, dn = services(run_dir)
    timeout = cfg.local.start_timeout_seconds
    if nn.running() and dn.running():
        wait_until(lambda: ready(cfg), timeout, "hdfs")
        return nn, dn
    nn.stop()
    dn.stop()
    loc = cfg.local
    require_free({"hdfs namenode": loc.hdfs_port, "hdfs namenode web": loc.hdfs_http_port,
                  "hdfs datanode": loc.datanode_port, "hdfs datanode web": loc.datanode_http_port,
                  "hdfs datanode ipc": loc.datanode_ipc_port})
    java, jopts, cp = _daemon(cfg, run_dir)
    if not (Path(run_dir) / "hdfs" / "name" / "current" / "VERSION").exists():
        run_checked([java, *jopts, "-cp", cp, "org.apache.hadoop.hdfs.server.namenode.NameNode",
                     "-format", "-nonInteractive", "-force"], "hdfs namenode format", nn.log_file)
    try:
        start_namenode(cfg, run_dir, wait_ready=False)
        start_datanode(cfg, run_dir)
    except StackError as exc:
        tails = f"{nn.log_file}:\n{nn.log_tail()}\n{dn.log_file}:\n{dn.log_tail()}"
        dn.stop()
        nn.stop()
        raise StackError(f"{exc}; end of logs\n{tails}") from None
    return nn, dn


def start_namenode(cfg: Config, run_dir: Path, wait_ready: bool = True) -> Service:
    """Start the (formatted) NameNode alone, e.g. after an outage of it; with `wait_ready`,
    wait until it is out of safe mode with a live DataNode."""
    nn, _ = services(run_dir)
    java, jopts, cp = _daemon(cfg, run_dir)
    nn.start([java, *jopts, "-cp", cp, "org.apache.hadoop.hdfs.server.namenode.NameNode"])
    timeout = cfg.local.start_timeout_seconds
    wait_until(lambda: _jmx(cfg, "NameNodeInfo") is not None, timeout, "hdfs namenode",
               alive=nn.running)
    if wait_ready:
        wait_until(lambda: ready(cfg), timeout, "hdfs (safe mode off, datanode live)",
                   alive=nn.running)
    return nn


def start_datanode(cfg: Config, run_dir: Path) -> Service:
    """Start the DataNode alone and wait until the NameNode counts it live."""
    nn, dn = services(run_dir)
    java, jopts, cp = _daemon(cfg, run_dir)
    dn.start([java, *jopts, "-cp", cp, "org.apache.hadoop.hdfs.server.datanode.DataNode"])
    wait_until(lambda: ready(cfg), cfg.local.start_timeout_seconds,
               "hdfs (safe mode off, datanode live)",
               alive=lambda: nn.running() and dn.running())
    return dn
