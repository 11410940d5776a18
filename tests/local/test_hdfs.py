"""The local single-node HDFS, for real: a file written through WebHDFS reads back byte for byte."""

import json
import urllib.request

import pytest

from wattstream.local import hdfs

pytestmark = pytest.mark.integration


def _webhdfs(cfg, path, op, method="GET", data=None, **params):
    query = "&".join(f"{k}={v}" for k, v in {"op": op, **params}.items())
    url = f"http://127.0.0.1:{cfg.local.hdfs_http_port}/webhdfs/v1{path}?{query}"
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def test_namenode_out_of_safe_mode_with_a_live_datanode(hdfs_cfg):
    assert hdfs.ready(hdfs_cfg)
    assert hdfs_cfg.storage.uri.startswith(hdfs.uri(hdfs_cfg))


def test_write_and_read_a_file(hdfs_cfg):
    payload = bytes(range(256)) * 1024
    path = "/wattstream/tests/blob.bin"
    # CREATE is two steps: the NameNode names a DataNode, the data goes there.
    loc = json.loads(_webhdfs(hdfs_cfg, path, "CREATE", "PUT", overwrite="true",
                              noredirect="true"))["Location"]
    assert "127.0.0.1" in loc, "the DataNode must advertise loopback"
    urllib.request.urlopen(urllib.request.Request(loc, data=payload, method="PUT"), timeout=30)
    status = json.loads(_webhdfs(hdfs_cfg, path, "GETFILESTATUS"))["FileStatus"]
    assert status["length"] == len(payload)
    assert status["replication"] == 1
    assert _webhdfs(hdfs_cfg, path, "OPEN") == payload
