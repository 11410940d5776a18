"""Replica identities give disjoint, stable building sets."""

import pytest

from wattstream.errors import WattstreamError
from wattstream.generator.fleet import building_ids, id_prefix, replica_identity
from wattstream.schema import BUILDING_ID_MAX_LENGTH


def test_identity_precedence():
    pod = {"POD_NAME": "gen-7", "HOSTNAME": "h", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert replica_identity("cli", "cfg", pod) == "cli"
    assert replica_identity(None, "cfg", pod) == "gen-7"
    assert replica_identity(None, "cfg", {"HOSTNAME": "h", "KUBERNETES_SERVICE_HOST": "x"}) == "h"
    assert replica_identity(None, "cfg", {"HOSTNAME": "laptop"}) == "cfg"
    assert replica_identity(None, "", {}) == "r0"
    with pytest.raises(WattstreamError):
        replica_identity("  ", "", {})


def test_distinct_replicas_own_disjoint_buildings():
    names = ["gen-0", "gen-1", "gen/1", "gen 1", "a" * 80, "a" * 81,
             "wattstream-generator-7d9f8c5b4-x2x9q"]
    sets = [set(building_ids(n, 50)) for n in names]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j], (names[i], names[j])
    for s in sets:
        assert all(len(b) <= BUILDING_ID_MAX_LENGTH for b in s)
    assert building_ids("gen-0", 3) == building_ids("gen-0", 5)[:3]


def test_prefix_keeps_plain_names():
    assert id_prefix("gen-0") == "gen-0"
    assert id_prefix("gen/0") != "gen-0"
