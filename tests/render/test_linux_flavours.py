"""Linux flavours (ifupdown2, systemd-networkd, netplan, and iproute2 in the lab) and Open vSwitch.

Every rendered file is parsed back with a parser of its own format (an ifupdown2 stanza reader, an INI reader
that keeps networkd's repeated sections, YAML, the ovs-vsctl command lines) into one `Observed` record of
meaning, which is compared with an `Expected` record computed independently of vxauto: straight from the
fixture's YAML files (attach lists incl. groups, local VLANs, VTEP addresses, ports, underlay links).

Where the real tool is installed it checks the files too: `netplan generate` (its networkd output is observed
the same way), `ifup --syntax-check`, and in the lab (root, network namespaces prefixed `lf-`) every flavour
is applied for real: iproute2 runs its script, ifupdown2 runs `ifup -a`, systemd-networkd itself loads the
networkd files (and netplan's generated ones with our flood drop-ins), OVS runs its script against a private
ovsdb-server. The resulting kernel/OVSDB state is observed and compared the same way, and hosts behind four
differently configured VTEPs ping each other across VXLAN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from vxauto.errors import VxautoError
from vxauto.model.fabric import load_fabric
from vxauto.model.facts import DeviceFacts
from vxauto.render.engine import RenderedConfig, render_device

INTENTS = Path(__file__).resolve().parents[1] / "fixtures" / "intents"
STATIC, V6, LAB, LAB6 = (INTENTS / name for name in ("linux-static", "linux-v6", "linux-lab", "linux-lab6"))
FIXTURES = (STATIC, V6, LAB, LAB6)
LINUX_FLAVOURS = ("iproute2", "ifupdown2", "networkd", "netplan")
PARSED_FLAVOURS = ("ifupdown2", "networkd", "netplan", "ovs")  # iproute2 is checked in the lab
ZERO_MAC = "00:00:00:00:00:00"
NETWORKD = Path("/lib/systemd/systemd-networkd")


def _address(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _interface(value: str) -> str:
    return str(ipaddress.ip_interface(value))


def _host_prefix(address: str) -> str:
    return f"{_address(address)}/{128 if ':' in address else 32}"


# --- what the intent says (from the YAML files alone) ---------------------------------------------------------


@dataclass(frozen=True)
class ExpectedSegment:
    vni: int
    vlan: int
    peers: frozenset[str]
    #: bridge members: access ports as named, trunk ports as <port>.<VLAN>
    members: frozenset[str]


@dataclass
class Expected:
    name: str
    platform: str
    flavour: str | None
    vtep: str
    udp_port: int
    overlay_mtu: int
    segments: dict[int, ExpectedSegment] = field(default_factory=dict)
    #: underlay interface -> (address/prefix, MTU)
    underlay: dict[str, tuple[str, int]] = field(default_factory=dict)
    loopback: frozenset[str] = frozenset()
    #: (interface, VTEP address/prefix) when the VTEP address is on its own interface (no underlay links)
    vtep_link: tuple[str, str] | None = None


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def expected_vteps(directory: Path) -> dict[str, Expected]:
    """Every VTEP of a fixture and what its configuration must mean, in Nornir's inheritance order."""
    intent = _read_yaml(directory / "fabric.yaml")
    hosts: dict[str, Any] = _read_yaml(directory / "hosts.yaml")
    groups: dict[str, Any] = _read_yaml(directory / "groups.yaml") or {}
    settings = intent["fabric"]

    def group_chain(names: list[str]) -> list[str]:
        chain: list[str] = []
        for group in names:
            chain += [group, *group_chain((groups.get(group) or {}).get("groups", []))]
        return chain

    def lookup(name: str, key: str, in_data: bool) -> Any:
        for source in [hosts[name], *(groups.get(g) or {} for g in group_chain(hosts[name].get("groups", [])))]:
            container = (source.get("data") or {}) if in_data else source
            if key in container:
                return container[key]
        return None

    vteps = {name: lookup(name, "vtep", True) for name in hosts if lookup(name, "vtep", True)}
    members = {
        name: [h for h in hosts if name in group_chain(hosts[h].get("groups", []))] for name in groups
    }
    attached: dict[str, set[str]] = {}
    for segment in intent["segments"]:
        attach = segment.get("attach", "all")
        if attach == "all":
            attached[segment["name"]] = set(vteps)
        else:
            wanted = set(attach.get("hosts", [])).union(*(members[g] for g in attach.get("groups", [])))
            attached[segment["name"]] = wanted & set(vteps)

    result = {}
    for name, vtep in vteps.items():
        expected = Expected(
            name, lookup(name, "platform", False), lookup(name, "flavour", True), _address(vtep["ip"]),
            settings.get("udp_port", 4789), settings.get("overlay_mtu", 1500),
        )
        ports = lookup(name, "ports", True) or []
        for segment in intent["segments"]:
            if name not in attached[segment["name"]]:
                continue
            vlan = segment.get("local_vlans", {}).get(name, segment["vlan"])
            access = {p["interface"] for p in ports if p.get("segment") == segment["name"]}
            trunk = {f"{p['interface']}.{vlan}" for p in ports if segment["name"] in p.get("segments", [])}
            peers = frozenset(_address(vteps[h]["ip"]) for h in attached[segment["name"]] if h != name)
            expected.segments[segment["vni"]] = ExpectedSegment(segment["vni"], vlan, peers, frozenset(access | trunk))
        underlay = lookup(name, "underlay", True) or []
        for link in underlay:
            expected.underlay[link["interface"]] = (_interface(link["ip"]), link.get("mtu") or settings["underlay_mtu"])
        if underlay:
            expected.loopback = frozenset({_host_prefix(lookup(name, "router_id", True)), _host_prefix(vtep["ip"])})
        elif vtep["interface"] == "lo":
            expected.loopback = frozenset({_host_prefix(vtep["ip"])})
        else:
            expected.vtep_link = (vtep["interface"], _host_prefix(vtep["ip"]))
        result[name] = expected
    return result


# --- what a configuration says -----------------------------------------------------------------------------


@dataclass
class ObservedSegment:
    local: str
    port: int
    learning: bool
    peers: frozenset[str]
    members: frozenset[str]
    mtu: int | None
    #: the VLAN of the segment where the format names it (OVS tags); None where only trunk names carry it
    vlan: int | None = None


@dataclass
class Observed:
    segments: dict[int, ObservedSegment] = field(default_factory=dict)
    underlay: dict[str, tuple[str, int]] = field(default_factory=dict)
    loopback: frozenset[str] = frozenset()
    #: MTU of each access/trunk port and trunk VLAN device (None where the format sets none)
    port_mtus: dict[str, int | None] = field(default_factory=dict)
    vtep_link: tuple[str, str] | None = None
    #: OVS: VLAN -> its members (access port names, trunk ports as <port>.<VLAN>), also VLANs without a tunnel
    vlan_members: dict[int, frozenset[str]] = field(default_factory=dict)


def assert_meaning(observed: Observed, expected: Expected, *, learning: bool = True) -> None:
    """The configuration carries exactly the intent of this VTEP."""
    name = expected.name
    assert sorted(observed.segments) == sorted(expected.segments), f"{name}: VNIs"
    for vni, want in expected.segments.items():
        got = observed.segments[vni]
        assert got.local == expected.vtep, f"{name}: local VTEP of VNI {vni}"
        assert got.port == expected.udp_port, f"{name}: UDP port of VNI {vni}"
        assert got.peers == want.peers, f"{name}: flood list of VNI {vni}"
        assert got.members == want.members, f"{name}: bridge members of VNI {vni} (VLAN {want.vlan})"
        assert got.learning is learning, f"{name}: MAC learning of VNI {vni}"
        assert got.mtu in (None, expected.overlay_mtu), f"{name}: overlay MTU of VNI {vni}"
        assert got.vlan in (None, want.vlan), f"{name}: VLAN of VNI {vni}"
    assert observed.underlay == expected.underlay, f"{name}: underlay addresses and MTUs"
    assert observed.loopback == expected.loopback, f"{name}: loopback addresses"
    assert observed.vtep_link == expected.vtep_link, f"{name}: VTEP address on its own interface"
    for port, mtu in observed.port_mtus.items():
        assert mtu in (None, expected.overlay_mtu), f"{name}: MTU of port {port}"


# --- ifupdown2 ------------------------------------------------------------------------------------------------


@dataclass
class Stanza:
    auto: bool = False
    method: str | None = None
    attrs: dict[str, list[str]] = field(default_factory=dict)

    def one(self, key: str) -> str:
        (value,) = self.attrs[key]
        return value


def parse_interfaces(text: str) -> dict[str, Stanza]:
    """interfaces(5) as ifupdown2 reads it: `auto`, `iface NAME [inet|inet6 METHOD]`, indented attributes."""
    stanzas: dict[str, Stanza] = {}
    current: Stanza | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if not raw[0].isspace():
            current = None
            if words[0] == "auto":
                for name in words[1:]:
                    stanzas.setdefault(name, Stanza()).auto = True
            elif words[0] == "iface" and len(words) in (2, 4):
                assert words[1] not in stanzas or not stanzas[words[1]].attrs, f"line {number}: iface twice"
                current = stanzas.setdefault(words[1], Stanza())
                current.method = words[3] if len(words) == 4 else None
            else:
                raise AssertionError(f"line {number}: not a stanza start: {raw!r}")
        else:
            assert current is not None and len(words) >= 2, f"line {number}: attribute outside a stanza: {raw!r}"
            current.attrs.setdefault(words[0], []).append(" ".join(words[1:]))
    for name, stanza in stanzas.items():
        assert stanza.auto, f"iface {name} is not auto: ifreload -a would skip it"
    return stanzas


def observe_ifupdown2(text: str) -> Observed:
    stanzas = parse_interfaces(text)
    observed = Observed()
    bridges = {name: s.one("bridge-ports").split() for name, s in stanzas.items() if "bridge-ports" in s.attrs}
    for name, stanza in stanzas.items():
        if "vxlan-id" not in stanza.attrs:
            continue
        vni = int(stanza.one("vxlan-id"))
        assert name == f"vxlan{vni}"
        (bridge,) = [b for b, ports in bridges.items() if name in ports]
        assert bridge == f"br{vni}"
        learning = stanza.one("vxlan-learning") == "yes" and stanza.one("bridge-learning") == "on"
        members = frozenset(bridges[bridge]) - {name}
        observed.segments[vni] = ObservedSegment(
            _address(stanza.one("vxlan-local-tunnelip")), int(stanza.one("vxlan-port")), learning,
            frozenset(_address(ip) for ip in stanza.attrs.get("vxlan-remoteip", [])), members,
            int(stanza.one("mtu")),
        )
        for member in members:
            parent = member.rpartition(".")[0]
            for port in (member, parent) if parent else (member,):
                assert port in stanzas, f"bridge member {port} has no stanza"
                observed.port_mtus[port] = int(stanzas[port].one("mtu"))
    for name, stanza in stanzas.items():
        addresses = {_interface(a) for a in stanza.attrs.get("address", [])}
        if name == "lo":
            assert stanza.method == "loopback"
            observed.loopback = frozenset(addresses)
        elif addresses:
            assert len(addresses) == 1, f"{name}: one address per link"
            if "mtu" in stanza.attrs:
                observed.underlay[name] = (next(iter(addresses)), int(stanza.one("mtu")))
            else:  # underlay links always get an MTU; the VTEP's own interface does not
                observed.vtep_link = (name, next(iter(addresses)))
    return observed


# --- systemd-networkd ---------------------------------------------------------------------------------------

Unit = list[tuple[str, list[tuple[str, str]]]]


def parse_unit(text: str) -> Unit:
    """systemd's INI dialect: sections may repeat ([BridgeFDB] once per entry) and so may keys."""
    sections: Unit = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if m := re.fullmatch(r"\[([A-Za-z0-9]+)\]", line):
            sections.append((m[1], []))
        elif m := re.fullmatch(r"([A-Za-z0-9]+)=(.*)", line):
            assert sections, f"line {number}: key before any section"
            sections[-1][1].append((m[1], m[2].strip()))
        else:
            raise AssertionError(f"line {number}: neither [Section] nor Key=Value: {raw!r}")
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for name, entries in unit if name == section for k, v in entries if k == key]


def value(unit: Unit, section: str, key: str) -> str | None:
    found = values(unit, section, key)
    assert len(found) <= 1, f"{section}.{key} set {len(found)} times"
    return found[0] if found else None


def _yes(text: str | None) -> bool:
    return (text or "").lower() in ("yes", "true", "1", "on")


def observe_networkd(files: dict[str, str]) -> Observed:
    """The meaning of a set of networkd files (names -> text); drop-ins `<file>.d/*.conf` are appended."""
    units: dict[str, Unit] = {}
    for name in sorted(files):
        if ".d/" not in name:
            units[name] = parse_unit(files[name])
    for name in sorted(files):
        if ".d/" in name:
            main = name.split(".d/")[0]
            assert main in units, f"drop-in {name} for a file that does not exist"
            units[main] = units[main] + parse_unit(files[name])
    netdevs = {value(u, "NetDev", "Name"): u for n, u in units.items() if n.endswith(".netdev")}
    networks: dict[str, Unit] = {}
    for name, unit in units.items():
        if name.endswith(".network"):
            (match,) = values(unit, "Match", "Name")
            assert match not in networks, f"two .network files match {match}: networkd uses the first only"
            networks[match] = unit
    observed = Observed()
    for device, netdev in netdevs.items():
        kind = value(netdev, "NetDev", "Kind")
        assert device in networks, f"netdev {device} has no .network file"
        if kind == "vlan":
            parent, _, tag = device.rpartition(".")
            assert value(netdev, "VLAN", "Id") == tag, f"{device}: VLAN Id"
            assert device in values(networks[parent], "Network", "VLAN"), f"{parent} does not create {device}"
        if kind != "vxlan":
            continue
        vni = int(value(netdev, "VXLAN", "VNI") or 0)
        network = networks[device]
        assert device == f"vxlan{vni}" and value(network, "Network", "Bridge") == f"br{vni}"
        assert value(netdevs[f"br{vni}"], "NetDev", "Kind") == "bridge"
        assert _yes(value(netdev, "VXLAN", "Independent")), f"{device} waits for a VXLAN= in some .network"
        fdb = [dict(entries) for section, entries in network if section == "BridgeFDB"]
        assert all(entry["MACAddress"] == ZERO_MAC for entry in fdb)
        bridge_learning = value(network, "Bridge", "Learning")
        members = frozenset(
            link for link, unit in networks.items() if value(unit, "Network", "Bridge") == f"br{vni}"
        ) - {device}
        mtu = value(netdev, "NetDev", "MTUBytes")
        observed.segments[vni] = ObservedSegment(
            _address(value(netdev, "VXLAN", "Local") or ""), int(value(netdev, "VXLAN", "DestinationPort") or 0),
            _yes(value(netdev, "VXLAN", "MacLearning")) and bridge_learning in (None, "yes", "true"),
            frozenset(_address(entry["Destination"]) for entry in fdb), members, int(mtu) if mtu else None,
        )
        for member in members:
            mtu_text = value(netdevs[member], "NetDev", "MTUBytes") if member in netdevs else \
                value(networks[member], "Link", "MTUBytes")
            observed.port_mtus[member] = int(mtu_text) if mtu_text else None
    for link, network in networks.items():
        written = values(network, "Network", "Address") + values(network, "Address", "Address")
        addresses = {_interface(a) for a in written}
        if link == "lo":
            observed.loopback = frozenset(addresses)
        elif addresses:
            assert len(addresses) == 1, f"{link}: one address per link"
            mtu = value(network, "Link", "MTUBytes")
            if mtu:
                observed.underlay[link] = (next(iter(addresses)), int(mtu))
            else:  # underlay links always get an MTU; the VTEP's own interface does not
                observed.vtep_link = (link, next(iter(addresses)))
    return observed


# --- netplan ------------------------------------------------------------------------------------------------


def observe_netplan(files: dict[str, str]) -> Observed:
    """Netplan YAML plus the flood drop-ins rendered beside it."""
    document = yaml.safe_load(files["netplan.yaml"])
    network = document["network"]
    assert network["version"] == 2 and network["renderer"] == "networkd"
    assert set(network) <= {"version", "renderer", "ethernets", "vlans", "tunnels", "bridges"}
    ethernets, vlans = network.get("ethernets") or {}, network.get("vlans") or {}
    observed = Observed()
    for name, tunnel in (network.get("tunnels") or {}).items():
        assert tunnel["mode"] == "vxlan"
        vni = tunnel["id"]
        assert name == f"vxlan{vni}"
        (bridge,) = [b for b, conf in network["bridges"].items() if name in conf["interfaces"]]
        assert bridge == f"br{vni}"
        dropin = f"10-netplan-{name}.network.d/50-vxauto-flood.conf"
        fdb = [dict(e) for s, e in parse_unit(files[dropin]) if s == "BridgeFDB"] if dropin in files else []
        assert all(entry["MACAddress"] == ZERO_MAC for entry in fdb)
        members = frozenset(network["bridges"][bridge]["interfaces"]) - {name}
        observed.segments[vni] = ObservedSegment(
            _address(tunnel["local"]), tunnel["port"], tunnel["mac-learning"] is True,
            frozenset(_address(entry["Destination"]) for entry in fdb), members, tunnel.get("mtu"),
        )
        for member in members:
            if member in vlans:
                assert f"{vlans[member]['link']}.{vlans[member]['id']}" == member
                assert vlans[member]["link"] in ethernets, f"VLAN {member} on an undefined link"
            observed.port_mtus[member] = (vlans.get(member) or ethernets.get(member))["mtu"]
    for name, ethernet in ethernets.items():
        addresses = frozenset(_interface(a) for a in ethernet.get("addresses", []))
        if name == "lo":
            observed.loopback = addresses
        elif addresses:
            assert len(addresses) == 1, f"{name}: one address per link"
            if "mtu" in ethernet:
                observed.underlay[name] = (next(iter(addresses)), ethernet["mtu"])
            else:  # underlay links always get an MTU; the VTEP's own interface does not
                observed.vtep_link = (name, next(iter(addresses)))
    drop_ins = {n for n in files if n != "netplan.yaml"}
    assert drop_ins == {f"10-netplan-vxlan{vni}.network.d/50-vxauto-flood.conf"
                        for vni, s in observed.segments.items() if s.peers}
    return observed


def netplan_generate(files: dict[str, str], root: Path) -> dict[str, str]:
    """Run the real `netplan generate` on the YAML; return its networkd files plus our drop-ins (as networkd
    would read them together)."""
    (root / "etc" / "netplan").mkdir(parents=True)
    target = root / "etc" / "netplan" / "90-vxauto.yaml"
    target.write_text(files["netplan.yaml"], encoding="utf-8")
    target.chmod(0o600)  # netplan warns about world-readable configuration
    run = subprocess.run(["netplan", "generate", "--root-dir", str(root)], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and not run.stderr.strip(), f"netplan generate: {run.stderr}"
    generated = {p.name: p.read_text(encoding="utf-8") for p in (root / "run" / "systemd" / "network").iterdir()}
    return generated | {name: text for name, text in files.items() if name != "netplan.yaml"}


# --- Open vSwitch -----------------------------------------------------------------------------------------------


def ovs_commands(text: str) -> list[list[list[str]]]:
    """Every ovs-vsctl line of the script, split into its `--`-separated commands."""
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] != ["ovs-vsctl"]:
            continue
        words = [w.replace("$BRIDGE", "br-vxlan") for w in words[1:]]
        parts: list[list[str]] = [[]]
        for word in words:
            if word == "--" and parts[-1]:
                parts.append([])
            else:
                parts[-1].append(word)
        commands.append(parts)
    return commands


def _columns(settings: list[str]) -> dict[str, str]:
    return dict(setting.split("=", 1) for setting in settings)


def observe_ovs_db(ports: dict[str, dict[str, Any]], interfaces: dict[str, dict[str, Any]]) -> Observed:
    """The meaning of OVS Port/Interface records (from the script's commands or from ovsdb itself)."""
    observed = Observed()
    tunnels = {name: i for name, i in interfaces.items() if i.get("type") == "vxlan"}
    vlan_members: dict[int, set[str]] = {}
    for name, record in ports.items():
        if name in tunnels or name == "br-vxlan":
            continue
        mode = record.get("vlan_mode") or ("access" if record.get("tag") is not None else "trunk")
        assert mode != "access" or not record.get("trunks"), f"{name}: access port with trunks"
        assert mode != "trunk" or record.get("tag") is None, f"{name}: trunk port with a tag"
        if mode in ("access", "native-untagged"):
            vlan_members.setdefault(record["tag"], set()).add(name)
        if mode in ("trunk", "native-untagged"):
            for vlan in record["trunks"]:
                vlan_members.setdefault(vlan, set()).add(f"{name}.{vlan}")
    observed.vlan_members = {vlan: frozenset(members) for vlan, members in vlan_members.items()}
    by_vni: dict[int, list[str]] = {}
    for name, interface in tunnels.items():
        by_vni.setdefault(int(interface["options"]["key"]), []).append(name)
    for vni, names in by_vni.items():
        options = [tunnels[n]["options"] for n in names]
        (local,) = {o["local_ip"] for o in options}
        (port,) = {int(o["dst_port"]) for o in options}
        (vlan,) = {ports[n]["tag"] for n in names}
        assert all(ports[n]["protected"] is True for n in names), "tunnel ports must be protected (split horizon)"
        assert all(n.startswith(f"vx{vni}-") for n in names)
        peers = [_address(o["remote_ip"]) for o in options]
        assert len(peers) == len(set(peers)), f"VNI {vni}: two tunnel ports to one VTEP"
        observed.segments[vni] = ObservedSegment(
            _address(local), port, True, frozenset(peers), observed.vlan_members.get(vlan, frozenset()), None, vlan
        )
    return observed


def ovs_expectation(expected: Expected) -> Expected:
    """In OVS a VNI exists only as the key of its tunnel ports: a segment without any remote VTEP is plain
    local switching in its VLAN (checked through `vlan_members`), with no VNI to see."""
    return dataclasses.replace(expected, segments={v: s for v, s in expected.segments.items() if s.peers})


def assert_ovs_vlans(observed: Observed, expected: Expected) -> None:
    assert observed.vlan_members == {s.vlan: s.members for s in expected.segments.values() if s.members}


def ovs_records_from_script(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    ports: dict[str, dict[str, Any]] = {}
    interfaces: dict[str, dict[str, Any]] = {}
    bridges = []
    for command in ovs_commands(text):
        for part in command:
            verb = [w for w in part if not w.startswith("--")]
            if verb[0] == "add-br":
                bridges.append(verb[1])
            elif verb[0] == "add-port":
                assert "--may-exist" in part and verb[1] in bridges, f"not idempotent or no bridge: {part}"
                ports.setdefault(verb[2], {"trunks": set(), "tag": None})
                interfaces.setdefault(verb[2], {"options": {}})
            elif verb[0] in ("set", "clear"):
                table, record, *settings = verb[1:]
                target = ports[record] if table == "port" else interfaces[record]
                if verb[0] == "clear":
                    target.update({column: set() if column == "trunks" else None for column in settings})
                    continue
                for column, text_value in _columns(settings).items():
                    if column.startswith("options:"):
                        target["options"][column.split(":", 1)[1]] = text_value
                    elif column == "trunks":
                        target["trunks"] = {int(v) for v in text_value.split(",")}
                    elif column == "tag":
                        target["tag"] = int(text_value)
                    elif column == "protected":
                        target["protected"] = text_value == "true"
                    else:
                        target[column] = text_value
            elif verb[0] not in ("list-ports", "del-port"):
                raise AssertionError(f"unexpected ovs-vsctl command {part}")
    assert bridges == ["br-vxlan"]
    return ports, interfaces


def observe_ovs(text: str) -> Observed:
    observed = observe_ovs_db(*ovs_records_from_script(text))
    mtus = {m[1]: int(m[2]) for m in re.finditer(r"^ip link set dev (\S+) mtu (\d+) up$", text, re.MULTILINE)}
    for m in re.finditer(r"^ip addr replace (\S+) dev (\S+)$", text, re.MULTILINE):
        if m[2] == "lo":
            observed.loopback |= {_interface(m[1])}
        elif m[2] in mtus:
            observed.underlay[m[2]] = (_interface(m[1]), mtus[m[2]])
        else:  # underlay links always get an MTU; the VTEP's own interface does not
            observed.vtep_link = (m[2], _interface(m[1]))
    prune = next(line for line in text.splitlines() if line.startswith("prune_tunnels "))
    assert set(prune.split()[1:]) == {
        name for name, record in ovs_records_from_script(text)[1].items() if record.get("type") == "vxlan"
    }, "the prune list must keep exactly the tunnel ports the script creates"
    return observed


OBSERVERS: dict[str, Callable[[RenderedConfig], Observed]] = {
    "ifupdown2": lambda r: observe_ifupdown2(r.files["interfaces"]),
    "networkd": lambda r: observe_networkd(r.files),
    "netplan": lambda r: observe_netplan(r.files),
    "ovs": lambda r: observe_ovs(r.files["config.sh"]),
}


# --- rendering -------------------------------------------------------------------------------------------------


def as_flavour(device: DeviceFacts, flavour: str) -> DeviceFacts:
    """The same VTEP configured another way: the facts do not depend on the flavour."""
    if flavour == "ovs":
        return dataclasses.replace(device, platform="ovs", flavour=None)
    return dataclasses.replace(device, platform="linux", flavour=flavour)


def render_as(directory: Path, host: str, flavour: str) -> RenderedConfig:
    return render_device(as_flavour(load_fabric(directory).device(host), flavour))


def vtep_cases(flavours: tuple[str, ...]) -> Iterator[Any]:
    for directory in FIXTURES:
        for host, expected in expected_vteps(directory).items():
            for flavour in flavours:
                if flavour == "ifupdown2" and ":" in expected.vtep:
                    continue  # ifupdown2 3.0 has no IPv6 VXLAN: the model rejects it (test below)
                yield pytest.param(directory, host, flavour, id=f"{directory.name}-{host}-{flavour}")


# --- tests: the fixtures and the model ---------------------------------------------------------------------------


def test_fixtures_load_with_their_own_flavours() -> None:
    """Each fixture VTEP is rendered by the flavour/platform its inventory names (leaf5: default iproute2)."""
    seen = set()
    for directory in FIXTURES:
        fabric = load_fabric(directory)
        for host, expected in expected_vteps(directory).items():
            device = fabric.device(host)
            assert device.platform == expected.platform
            assert device.flavour == (expected.flavour or ("iproute2" if expected.platform == "linux" else None))
            seen.add(device.flavour or device.platform)
    assert seen == {*LINUX_FLAVOURS, "ovs"}


def test_ifupdown2_with_an_ipv6_vtep_is_an_intent_error(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(V6, inventory)
    hosts = inventory / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("flavour: netplan", "flavour: ifupdown2"), encoding="utf-8")
    with pytest.raises(VxautoError) as caught:
        load_fabric(inventory)
    (problem,) = caught.value.problems
    assert problem.path == "leafb.data.flavour" and problem.value == "ifupdown2"
    assert "ipv6_underlay" in problem.message and problem.file.endswith("hosts.yaml")


# --- tests: parsed meaning of every flavour on every fixture VTEP ---------------------------------------------


@pytest.mark.parametrize(("directory", "host", "flavour"), list(vtep_cases(PARSED_FLAVOURS)))
def test_rendered_meaning(directory: Path, host: str, flavour: str) -> None:
    expected = expected_vteps(directory)[host]
    observed = OBSERVERS[flavour](render_as(directory, host, flavour))
    if flavour == "ovs":
        assert_ovs_vlans(observed, expected)
        expected = ovs_expectation(expected)
    assert_meaning(observed, expected)
    if flavour != "ovs":  # the OVS script sets port MTUs with ip-link, checked in the lab
        members = {m for s in expected.segments.values() for m in s.members}
        assert {m: observed.port_mtus.get(m) for m in members} == dict.fromkeys(members, expected.overlay_mtu)


@pytest.mark.parametrize(("directory", "host", "flavour"), list(vtep_cases((*LINUX_FLAVOURS, "ovs"))))
def test_rendering_is_deterministic(directory: Path, host: str, flavour: str) -> None:
    first = render_as(directory, host, flavour)
    second = render_as(directory, host, flavour)
    assert first.files == second.files and list(first.files) == list(second.files)
    for name, text in first.files.items():
        assert text.endswith("\n") and "\n\n\n" not in text, f"{name}: stray blank lines"
        assert "vxauto:" in text.splitlines()[0] + text.splitlines()[1], f"{name}: no header"
        assert "Follows:" in text, f"{name}: header does not name the document it follows"


@pytest.mark.parametrize("flavour", ["ifupdown2", "networkd", "netplan"])
def test_evpn_segments_turn_learning_off_and_have_no_flood_list(flavour: str) -> None:
    """The Linux platform has no EVPN yet (platforms.py), but the templates already render EVPN segments the
    way FRR expects them: no data-plane learning, no static flood entries."""
    device = load_fabric(STATIC).device("leaf2")
    evpn = dataclasses.replace(device, segments=tuple(s._replace(flood="evpn") for s in device.segments))
    expected = expected_vteps(STATIC)["leaf2"]
    for vni, segment in expected.segments.items():
        expected.segments[vni] = dataclasses.replace(segment, peers=frozenset())
    rendered = render_device(as_flavour(evpn, flavour))
    assert_meaning(OBSERVERS[flavour](rendered), expected, learning=False)
    text = "".join(rendered.files.values())
    assert {"ifupdown2": "bridge-arp-nd-suppress on", "networkd": "NeighborSuppression=yes",
            "netplan": "neigh-suppress: true"}[flavour] in text


def test_the_parsers_catch_a_wrong_flood_list() -> None:
    """The observers are not blind: a flood list with a peer missing or replaced, in each format, fails the
    meaning check."""
    expected = expected_vteps(STATIC)["leaf2"]
    for flavour in PARSED_FLAVOURS:
        rendered = render_as(STATIC, "leaf2", flavour)
        files = dict(rendered.files)
        name, old, new = {
            "ifupdown2": ("interfaces", "    vxlan-remoteip 10.0.0.14\n", ""),
            "networkd": ("30-vxlan10010.network", f"[BridgeFDB]\nMACAddress={ZERO_MAC}\nDestination=10.0.0.14\n", ""),
            "netplan": ("10-netplan-vxlan10010.network.d/50-vxauto-flood.conf", "=10.0.0.14", "=10.0.0.99"),
            "ovs": ("config.sh", "options:remote_ip=10.0.0.14", "options:remote_ip=10.0.0.99"),
        }[flavour]
        assert old in files[name], f"{flavour}: mutation does not apply"
        files[name] = files[name].replace(old, new, 1)  # the first occurrence is in VNI 10010
        broken = dataclasses.replace(rendered, files=files)
        with pytest.raises(AssertionError, match="flood list of VNI 10010"):
            assert_meaning(OBSERVERS[flavour](broken), expected)


def test_output_files_and_directories(tmp_path: Path) -> None:
    """Where `vxauto render` puts each flavour: a script file, or a directory (drop-ins in their .d/)."""
    written = {}
    fabric = load_fabric(STATIC)
    for host in expected_vteps(STATIC):
        written[host] = sorted(str(p.relative_to(tmp_path)) for p in render_device(fabric.device(host)).write(tmp_path))
    assert written["leaf1"] == ["leaf1/interfaces"]
    assert "leaf2/12-eth1.network" in written["leaf2"] and "leaf2/41-eth3.30.netdev" in written["leaf2"]
    assert written["leaf3"] == [
        "leaf3/10-netplan-vxlan10010.network.d/50-vxauto-flood.conf",
        "leaf3/10-netplan-vxlan10020.network.d/50-vxauto-flood.conf",  # not 10040: no other VTEP
        "leaf3/netplan.yaml",
    ]
    assert written["leaf4"] == ["leaf4.sh"] and written["leaf5"] == ["leaf5.sh"]
    assert "leaf6/11-und.network" in written["leaf6"] and "leaf6/10-lo.network" not in written["leaf6"]


# --- tests: the real tools, offline ------------------------------------------------------------------------


needs_netplan = pytest.mark.skipif(shutil.which("netplan") is None, reason="netplan.io is not installed")


@needs_netplan
@pytest.mark.parametrize(("directory", "host", "flavour"), list(vtep_cases(("netplan",))))
def test_netplan_generate_accepts_the_yaml(directory: Path, host: str, flavour: str, tmp_path: Path) -> None:
    """netplan's own parser reads the YAML; the networkd files it writes, with our flood drop-ins, mean the
    intent (the same observer as the networkd flavour)."""
    rendered = render_as(directory, host, flavour)
    networkd_files = netplan_generate(rendered.files, tmp_path)
    observed = observe_networkd({n: t for n, t in networkd_files.items() if not n.endswith(".link")})
    assert_meaning(observed, expected_vteps(directory)[host])


@needs_netplan
def test_netplan_generate_rejects_a_wrong_key(tmp_path: Path) -> None:
    """The check above can fail: netplan refuses an unknown tunnel key."""
    files = dict(render_as(STATIC, "leaf3", "netplan").files)
    files["netplan.yaml"] = files["netplan.yaml"].replace("mac-learning: true", "mac-learnin: true", 1)
    with pytest.raises(AssertionError, match="netplan generate"):
        netplan_generate(files, tmp_path)


# --- lab: applied for real -------------------------------------------------------------------------------------


def _run(*command: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result


def _ip_json(namespace: str, *args: str) -> Any:
    return json.loads(_run("ip", "-n", namespace, "-j", *args).stdout or "[]")


def observe_kernel(namespace: str) -> Observed:
    """The kernel's VXLAN/bridge/address state of a namespace, as an `Observed`."""
    links = {link["ifname"]: link for link in _ip_json(namespace, "-d", "link", "show")}
    fdb = json.loads(_run("bridge", "-n", namespace, "-j", "fdb", "show").stdout or "[]")
    observed = Observed()
    for name, link in links.items():
        info = link.get("linkinfo", {})
        if info.get("info_kind") != "vxlan":
            continue
        data, slave = info["info_data"], info.get("info_slave_data", {})
        vni = data["id"]
        assert link.get("master") == f"br{vni}", f"{name} is not in br{vni}"
        members = frozenset(n for n, other in links.items() if other.get("master") == f"br{vni}") - {name}
        peers = frozenset(_address(e["dst"]) for e in fdb if e.get("ifname") == name and e["mac"] == ZERO_MAC)
        observed.segments[vni] = ObservedSegment(
            _address(data.get("local") or data.get("local6")), data["port"],
            data["learning"] and slave.get("learning", False), peers, members, link["mtu"],
        )
        observed.port_mtus |= {member: links[member]["mtu"] for member in members}
    for entry in _ip_json(namespace, "address", "show"):
        addresses = {
            _interface(f"{a['local']}/{a['prefixlen']}") for a in entry.get("addr_info", []) if a.get("scope") != "link"
        }
        if entry["ifname"] == "lo":
            observed.loopback = frozenset(addresses - {"127.0.0.1/8", "::1/128"})
        elif addresses:  # besides lo, a VTEP has addresses on its underlay links or on its VTEP interface
            (address,) = addresses
            if address.endswith(("/32", "/128")):
                observed.vtep_link = (entry["ifname"], address)
            else:
                observed.underlay[entry["ifname"]] = (address, entry["mtu"])
    return observed


class Lab:
    """Network namespaces `lf-<pid>-<node>` that this test creates and always deletes again."""

    def __init__(self) -> None:
        self.prefix = f"lf-{os.getpid()}-"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def add(self, node: str) -> str:
        name = self.ns(node)
        _run("ip", "netns", "add", name)
        self.namespaces.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def cable(self, node: str, interface: str, peer_node: str, peer_interface: str) -> None:
        _run("ip", "link", "add", interface, "netns", self.ns(node), "type", "veth",
             "peer", "name", peer_interface, "netns", self.ns(peer_node))

    def start(self, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the session this test started, nothing else
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                self.stop(process)
        for name in reversed(self.namespaces):
            _run("ip", "netns", "delete", name, check=False)


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    network = Lab()
    try:
        yield network
    finally:
        network.close()


# The networkd runner: a private mount namespace (ip netns exec makes one) hides the host's networkd
# configuration and bus; with /sys read-only networkd treats udev as absent and does not wait for it.
NETWORKD_RUNNER = r"""
set -eu
conf=$1 runconf=$2
mount -t tmpfs tmpfs /etc/systemd/network
mount -t tmpfs tmpfs /usr/lib/systemd/network
mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd
if [ -d /run/dbus ]; then mount -t tmpfs tmpfs /run/dbus; fi
mkdir -p /run/systemd/netif /run/systemd/network
chown systemd-network:systemd-network /run/systemd/netif
cp -r "$conf"/. /etc/systemd/network/
cp -r "$runconf"/. /run/systemd/network/
mount -o remount,ro /sys
exec /lib/systemd/systemd-networkd
"""

# ifupdown2 keeps its state and lock in /run/network and runs the hook scripts of other packages
# (/etc/network/if-*.d): a private tmpfs over each keeps the run hermetic.
IFUPDOWN2_RUNNER = r"""
set -eu
mkdir -p /run/network && mount -t tmpfs tmpfs /run/network
for hooks in /etc/network/if-*.d; do mount -t tmpfs tmpfs "$hooks"; done
ifup -a -s -i "$1"
ifup -a -i "$1"
"""

# A networkd warning about a file names it with a line number: "/etc/systemd/network/x.network:7: ..."
NETWORKD_FILE_WARNING = re.compile(r"/systemd/network/\S+:\d+: ")


def write_files(rendered: RenderedConfig, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def wait_for(check: Callable[[], None], timeout: float = 30.0) -> None:
    """Poll `check` until it stops raising AssertionError (networkd configures asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def apply_flavour(lab: Lab, node: str, rendered: RenderedConfig, work: Path) -> subprocess.Popen[bytes] | None:
    """Apply one VTEP's files the way its flavour does; networkd runs on (returned) until the caller stops it."""
    namespace = lab.ns(node)
    files = write_files(rendered, work / node)
    flavour = rendered.platform if rendered.platform != "linux" else as_flavour_name(rendered)
    if flavour == "iproute2":
        _run("ip", "netns", "exec", namespace, "sh", str(files / "vxlan.sh"))
        return None
    if flavour == "ifupdown2":
        _run("ip", "netns", "exec", namespace, "sh", "-c", IFUPDOWN2_RUNNER, "ifupdown2", str(files / "interfaces"))
        return None
    etc, run = work / f"{node}-etc", work / f"{node}-run"
    if flavour == "networkd":
        shutil.copytree(files, etc)
        run.mkdir()
    else:  # netplan: netplan's own networkd files, plus our drop-ins
        generated = netplan_generate(rendered.files, work / f"{node}-netplan")
        run.mkdir()
        etc.mkdir()
        for name, text in generated.items():
            target = (etc if ".d/" in name else run) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    command = ["ip", "netns", "exec", namespace, "sh", "-c", NETWORKD_RUNNER, "networkd", str(etc), str(run)]
    return lab.start(command, work / f"{node}-networkd.log")


def as_flavour_name(rendered: RenderedConfig) -> str:
    names = set(rendered.files)
    if "vxlan.sh" in names:
        return "iproute2"
    if "interfaces" in names:
        return "ifupdown2"
    return "netplan" if "netplan.yaml" in names else "networkd"


def build_lab_topology(
    lab: Lab, directory: Path, expected: dict[str, Expected]
) -> dict[tuple[str, int], tuple[str, str]]:
    """A namespace per VTEP, the underlay links of the fixture as veth pairs, and a host namespace behind each
    access port. Returns (VTEP, VNI) -> (host namespace, host address)."""
    hosts = _read_yaml(directory / "hosts.yaml")
    for node in expected:
        lab.add(node)
    for node in expected:
        for link in hosts[node]["data"]["underlay"]:
            if node < link["peer"]:
                back = next(o for o in hosts[link["peer"]]["data"]["underlay"] if o["peer"] == node)
                lab.cable(node, link["interface"], link["peer"], back["interface"])
    endpoints = {}
    for node, want in expected.items():
        for vni, segment in want.segments.items():
            (port,) = segment.members
            host_node = f"{node}-{port}"
            host_ns = lab.add(host_node)
            lab.cable(node, port, host_node, "eth0")
            # One /16 for all segments: if VNIs leaked into each other, hosts of different segments would answer.
            address = f"10.10.{segment.vlan}.{node[-1]}"
            _run("ip", "-n", host_ns, "addr", "add", f"{address}/16", "dev", "eth0")
            _run("ip", "-n", host_ns, "link", "set", "eth0", "up")
            endpoints[(node, vni)] = (host_ns, address)
    return endpoints


def networkd_file_warnings(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if NETWORKD_FILE_WARNING.search(line)]


@pytest.mark.lab
@pytest.mark.parametrize(
    ("directory", "flavours"),
    [(LAB, LINUX_FLAVOURS), (LAB6, ("iproute2", "networkd", "netplan"))], ids=["ipv4", "ipv6"],
)
def test_lab_flavours_configure_the_kernel_and_forward(
    lab: Lab, tmp_path: Path, directory: Path, flavours: tuple[str, ...]
) -> None:
    """linux-lab: lab1 iproute2, lab2 ifupdown2, lab3 systemd-networkd, lab4 netplan (-> networkd); linux-lab6
    the same over IPv6 without ifupdown2. Each VTEP is configured by its real tool in its namespace. Each
    kernel then holds exactly the intent (devices, VNIs, VTEP address, port, learning, flood entries, bridge
    members, underlay addresses and MTUs, loopback), every link is up, and hosts of a segment reach each other
    across the differently configured VTEPs while hosts of other segments stay unreachable."""
    expected = expected_vteps(directory)
    endpoints = build_lab_topology(lab, directory, expected)
    fabric = load_fabric(directory)
    rendered = {node: render_device(fabric.device(node)) for node in expected}
    assert [as_flavour_name(rendered[n]) for n in sorted(expected)] == list(flavours)
    daemons = {}
    for node in sorted(expected):
        process = apply_flavour(lab, node, rendered[node], tmp_path)
        if process is not None:
            daemons[node] = process
    try:
        for node, want in expected.items():
            wait_for(lambda n=node, w=want: assert_meaning(observe_kernel(lab.ns(n)), w))
            for link in _ip_json(lab.ns(node), "link", "show"):
                if link["ifname"].startswith(("ul", "h", "vxlan", "br")):
                    wait_for(lambda n=node, i=link["ifname"]: _assert_up(lab.ns(n), i))
    finally:
        for process in daemons.values():
            lab.stop(process)
    for node in daemons:
        assert networkd_file_warnings(tmp_path / f"{node}-networkd.log") == [], f"{node}: networkd complained"
    for namespace in lab.namespaces:
        wait_for(lambda ns=namespace: _assert_settled(ns))

    # The underlay routing BGP would do (FRR is not part of these flavours): static routes to the VTEPs.
    hosts = _read_yaml(directory / "hosts.yaml")
    for node in expected:
        for link in hosts[node]["data"]["underlay"]:
            back = next(o for o in hosts[link["peer"]]["data"]["underlay"] if o["peer"] == node)
            via = str(ipaddress.ip_interface(back["ip"]).ip)
            _run("ip", "-n", lab.ns(node), "route", "replace", _host_prefix(expected[link["peer"]].vtep), "via", via)

    def ping(source: tuple[str, int], target: tuple[str, int]) -> bool:
        reply = _run("ip", "netns", "exec", endpoints[source][0], "ping", "-c", "1", "-W", "2",
                     endpoints[target][1], check=False)
        return reply.returncode == 0

    for source in endpoints:
        for target in endpoints:
            if source[0] != target[0] and source[1] == target[1]:
                assert ping(source, target), f"{source} -> {target}: no reply across VXLAN"
    # Isolation: all hosts share one /16, so only the VNIs keep the segments apart.
    vnis = sorted({vni for _, vni in endpoints})
    for vni, other_vni in zip(vnis, vnis[1:] + vnis[:1], strict=True):
        source = next(e for e in endpoints if e[1] == vni)
        target = next(e for e in endpoints if e[1] == other_vni and e[0] != source[0])
        assert not ping(source, target), f"{source} reached {target} in another VNI"

    # The one-shot flavours are safe to run again: the kernel state stays exactly the intent.
    for node in expected:
        if as_flavour_name(rendered[node]) in ("iproute2", "ifupdown2"):
            apply_flavour(lab, node, rendered[node], tmp_path / "again")
            assert_meaning(observe_kernel(lab.ns(node)), expected[node])


def _assert_settled(namespace: str) -> None:
    """IPv6 duplicate address detection is over: a tentative address cannot source VXLAN packets yet."""
    tentative = [a["local"] for e in _ip_json(namespace, "address", "show") for a in e.get("addr_info", [])
                 if a.get("tentative")]
    assert not tentative, f"{namespace}: tentative {tentative}"


def _assert_up(namespace: str, interface: str) -> None:
    (link,) = _ip_json(namespace, "link", "show", "dev", interface)
    assert "UP" in link["flags"], f"{interface} is down in {namespace}"


@pytest.mark.lab
@pytest.mark.skipif(not NETWORKD.exists(), reason="systemd-networkd is not installed")
@pytest.mark.parametrize("directory", [STATIC, V6], ids=lambda d: d.name)
def test_networkd_loads_every_file_without_complaint(lab: Lab, tmp_path: Path, directory: Path) -> None:
    """systemd-networkd itself parses every fixture VTEP's networkd files and netplan's output plus our
    drop-ins (also the trunk VLAN devices, which this lab kernel cannot create), and names no file in a
    warning. Checked once networkd has enumerated the links, i.e. after it loaded all its configuration."""
    for host in expected_vteps(directory):
        for flavour in ("networkd", "netplan"):
            node = f"{host}-{'nd' if flavour == 'networkd' else 'np'}"
            lab.add(node)
            work = tmp_path / node
            process = apply_flavour(lab, node, render_as(directory, host, flavour), work)
            assert process is not None
            log = work / f"{node}-networkd.log"
            try:
                wait_for(lambda log=log: _assert_in_log(log, "Enumeration completed"))
            finally:
                lab.stop(process)
            assert networkd_file_warnings(log) == [], f"{host} ({flavour})"


def _assert_in_log(log: Path, marker: str) -> None:
    assert marker in log.read_text(errors="replace"), f"{marker!r} not yet in {log}"


@pytest.mark.lab
def test_networkd_warning_check_can_fail(lab: Lab, tmp_path: Path) -> None:
    """The warning check above sees a key networkd does not know."""
    rendered = render_as(STATIC, "leaf5", "networkd")
    files = dict(rendered.files)
    files["30-vxlan10010.netdev"] = files["30-vxlan10010.netdev"].replace("Independent=yes", "Independant=yes")
    lab.add("bad")
    process = apply_flavour(lab, "bad", dataclasses.replace(rendered, files=files), tmp_path)
    assert process is not None
    log = tmp_path / "bad-networkd.log"
    try:
        wait_for(lambda: _assert_in_log(log, "Enumeration completed"))
    finally:
        lab.stop(process)
    assert any("30-vxlan10010.netdev" in line for line in networkd_file_warnings(log))


@pytest.mark.lab
@pytest.mark.skipif(shutil.which("ifup") is None, reason="ifupdown2 is not installed")
@pytest.mark.parametrize("host", sorted(expected_vteps(STATIC)))
def test_ifupdown2_syntax_check_and_attributes(host: str, tmp_path: Path) -> None:
    """`ifup --syntax-check` accepts the file (it needs root), and every attribute is one ifupdown2's addons
    declare (`ifquery --syntax-help`), which the syntax check itself does not verify."""
    if os.geteuid() != 0:
        pytest.skip("ifup --syntax-check needs root")
    text = render_as(STATIC, host, "ifupdown2").files["interfaces"]
    path = tmp_path / "interfaces"
    path.write_text(text, encoding="utf-8")
    check = _run("unshare", "--mount", "sh", "-c",
                 "mkdir -p /run/network && mount -t tmpfs tmpfs /run/network && ifup -a -s -i \"$0\"", str(path),
                 check=False)
    assert check.returncode == 0 and not check.stderr.strip(), check.stderr
    known = set(re.findall(r"^  ([a-z0-9-]+)$", _run("ifquery", "--syntax-help").stdout, re.MULTILINE))
    used = {key for stanza in parse_interfaces(text).values() for key in stanza.attrs}
    assert used <= known, f"attributes no ifupdown2 addon declares: {used - known}"


# --- lab: Open vSwitch against a private ovsdb-server -------------------------------------------------------------


@dataclass
class Ovsdb:
    rundir: Path
    bin: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "OVS_RUNDIR": str(self.rundir), "PATH": f"{self.bin}:{os.environ['PATH']}"}

    def records(self, table: str, columns: str) -> dict[str, dict[str, Any]]:
        out = _run("ovs-vsctl", "--no-wait", "--format=json", f"--columns={columns}", "list", table,
                   env=self.env()).stdout
        listing = json.loads(out)
        return {row[0]: dict(zip(listing["headings"][1:], map(_ovsdb_value, row[1:]), strict=True))
                for row in listing["data"]}


def _ovsdb_value(atom: Any) -> Any:
    """OVSDB JSON: ["set", [...]], ["map", [[k, v], ...]], scalars."""
    if isinstance(atom, list) and atom[0] == "set":
        return set(atom[1])
    if isinstance(atom, list) and atom[0] == "map":
        return dict(atom[1])
    return atom


@pytest.fixture
def ovsdb(tmp_path: Path) -> Iterator[Ovsdb]:
    """An ovsdb-server with the Open_vSwitch schema on a private socket. No ovs-vswitchd (this kernel has no
    openvswitch module): ovs-vsctl is wrapped with --no-wait, the database still checks every column and value."""
    schema = Path("/usr/share/openvswitch/vswitch.ovsschema")
    if shutil.which("ovsdb-server") is None or not schema.exists():
        pytest.skip("openvswitch-switch is not installed")
    rundir, bindir = tmp_path / "ovs", tmp_path / "ovs-bin"
    rundir.mkdir()
    bindir.mkdir()
    wrapper = bindir / "ovs-vsctl"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ovs-vsctl")} --no-wait "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    _run("ovsdb-tool", "create", str(rundir / "conf.db"), str(schema))
    # In the foreground, as this test's own child: stopped and reaped by its pid, never left behind.
    log = (rundir / "ovsdb-server.out").open("wb")
    process = subprocess.Popen(
        ["ovsdb-server", str(rundir / "conf.db"), f"--remote=punix:{rundir / 'db.sock'}",
         f"--unixctl={rundir / 'ovsdb-server.ctl'}", "--no-chdir"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Ovsdb(rundir, bindir)
    try:
        wait_for(lambda: _assert_exists(rundir / "db.sock"), timeout=10)
        _run("ovs-vsctl", "init", env=server.env())
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _assert_exists(path: Path) -> None:
    assert path.exists(), f"{path} not there yet"


@pytest.mark.lab
@pytest.mark.parametrize(
    ("directory", "host"), [(STATIC, "leaf4"), (V6, "leafc"), (STATIC, "leaf1"), (STATIC, "leaf6")],
    ids=["leaf4", "leafc-ipv6", "leaf1-as-ovs", "leaf6-own-vtep-link-as-ovs"],
)
def test_ovs_script_against_ovsdb(lab: Lab, ovsdb: Ovsdb, tmp_path: Path, directory: Path, host: str) -> None:
    """The script runs (kernel side in a namespace, OVS side against ovsdb), the database then means the
    intent, a second run changes nothing, and a run for fewer peers deletes the stale tunnel ports."""
    expected = expected_vteps(directory)[host]
    namespace = lab.add(host)
    links = {*expected.underlay, *{m.split(".")[0] for s in expected.segments.values() for m in s.members}}
    for name in sorted(links | ({expected.vtep_link[0]} if expected.vtep_link else set())):
        _run("ip", "-n", namespace, "link", "add", name, "type", "veth", "peer", "name", f"{name}-p")
    device = as_flavour(load_fabric(directory).device(host), "ovs")
    script = tmp_path / "config.sh"

    def apply(facts: DeviceFacts) -> Observed:
        script.write_text(render_device(facts).files["config.sh"], encoding="utf-8")
        _run("ip", "netns", "exec", namespace, "sh", str(script), env=ovsdb.env())
        ports = ovsdb.records("port", "name,tag,trunks,vlan_mode,protected")
        for record in ports.values():
            record["tag"] = record["tag"] if isinstance(record["tag"], int) else None
            record["vlan_mode"] = record["vlan_mode"] if isinstance(record["vlan_mode"], str) else None
        return observe_ovs_db(ports, ovsdb.records("interface", "name,type,options"))

    observed = apply(device)
    kernel = observe_kernel(namespace)
    assert_ovs_vlans(observed, expected)
    kernel_side = {"underlay": kernel.underlay, "loopback": kernel.loopback, "vtep_link": kernel.vtep_link}
    assert_meaning(dataclasses.replace(observed, **kernel_side), ovs_expectation(expected))
    links = {link["ifname"]: link for link in _ip_json(namespace, "link", "show")}
    members = {m.split(".")[0] for s in expected.segments.values() for m in s.members}
    assert {m: links[m]["mtu"] for m in members} == dict.fromkeys(members, expected.overlay_mtu)
    before = ovsdb.records("interface", "name,type,options"), ovsdb.records("port", "name,tag,trunks,vlan_mode")
    apply(device)
    after_again = ovsdb.records("interface", "name,type,options"), ovsdb.records("port", "name,tag,trunks,vlan_mode")
    assert after_again == before, "a second run changed the database"
    # One VTEP leaves the fabric: its tunnel ports go, the others stay.
    gone = sorted(expected.segments[min(expected.segments)].peers)[0]
    fewer = dataclasses.replace(device, segments=tuple(
        s._replace(segment_vteps=tuple(ip for ip in s.segment_vteps if ip != gone)) for s in device.segments
    ))
    after = apply(fewer)
    assert {vni: s.peers for vni, s in after.segments.items()} == {
        vni: s.peers - {gone} for vni, s in expected.segments.items() if s.peers - {gone}
    }
    assert all(gone != record["options"].get("remote_ip") for record in ovsdb.records(
        "interface", "name,type,options").values())
