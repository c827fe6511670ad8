"""Issue 14: every topology vxauto ships or hands over passes containerlab's own JSON schema, and vxauto's
topology reader accepts what containerlab accepts (schema copy: tests/lab/containerlab_schema/SOURCE.md)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import jsonschema._keywords
import pytest
import regex
import yaml

from tests.lab.conftest import CONTAINERLAB, REPO, render
from vxauto.lab import topology as reader
from vxauto.lab.configs import node_startups
from vxauto.lab.containerlab import derived_topology
from vxauto.lab.kinds import is_known_kind
from vxauto.lab.topology import load_topology

SCHEMA_FILE = Path(__file__).parent / "containerlab_schema" / "clab.schema.json"
TOPOLOGIES = sorted(CONTAINERLAB.glob("*.clab.yml"))


@cache
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@cache
def validator() -> jsonschema.Draft7Validator:
    # containerlab's patterns use \p{L} and \p{N}: jsonschema's keyword module must match with `regex`
    jsonschema._keywords.re = regex  # type: ignore[attr-defined]
    return jsonschema.Draft7Validator(schema())


def schema_errors(data: object) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message[:200]}"
            for error in validator().iter_errors(data)]


def test_the_schema_rejects_what_containerlab_rejects() -> None:
    """Positive control for the test below: the validator does reject a kind and a key containerlab lacks."""
    good = yaml.safe_load((CONTAINERLAB / "evpn-frr.clab.yml").read_text())
    assert schema_errors(good) == []
    bad_kind = yaml.safe_load((CONTAINERLAB / "evpn-frr.clab.yml").read_text())
    bad_kind["topology"]["nodes"]["leaf1"]["kind"] = "ceos-lab"
    bad_key = yaml.safe_load((CONTAINERLAB / "evpn-frr.clab.yml").read_text())
    bad_key["topology"]["nodes"]["leaf1"]["sandbox"] = "x"
    assert schema_errors(bad_kind) and schema_errors(bad_key)


@pytest.mark.parametrize("file", TOPOLOGIES, ids=[f.name for f in TOPOLOGIES])
def test_topology_passes_containerlabs_schema(file: Path) -> None:
    assert schema_errors(yaml.safe_load(file.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("name", ["evpn-frr", "mixed-pyvtep"])
def test_handed_over_topology_passes_containerlabs_schema(name: str, tmp_path: Path) -> None:
    topology = load_topology(CONTAINERLAB / f"{name}.clab.yml")
    inventory = REPO / "inventory" if name == "evpn-frr" else CONTAINERLAB / name / "inventory"
    startups = node_startups(topology, render(inventory, tmp_path / "configs"))
    assert schema_errors(derived_topology(topology, startups, tmp_path / "work")) == []


def _properties(definition: str) -> set[str]:
    return set(schema()["definitions"][definition]["properties"])


def test_reader_knows_every_key_and_kind_of_the_schema() -> None:
    top = schema()["properties"]
    assert set(top) == reader.TOP_LEVEL_KEYS
    assert set(top["topology"]["properties"]) == reader.TOPOLOGY_KEYS
    assert set(top["mgmt"]["properties"]) <= reader.MGMT_KEYS
    assert _properties("node-config") <= reader.NODE_KEYS
    link_keys = set().union(*(_properties(d) for d in schema()["definitions"]
                              if d.startswith("link-type-") or d == "link-config-short"))
    assert link_keys <= reader.LINK_KEYS
    kinds = schema()["definitions"]["node-config"]["properties"]["kind"]["enum"]
    assert [kind for kind in kinds if not is_known_kind(kind)] == []
