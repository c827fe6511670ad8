#!/usr/bin/env python3
"""Render every intent of the repository plus generated fabrics into one directory, to compare renderers.

Usage: scripts/render-corpus.py OUT_DIR            write the corpus
       scripts/render-corpus.py --compare A B      list every file that differs (exit 1 if any)

The corpus: inventory/, every containerlab lab's inventory, every fixture intent under tests/fixtures (each
fabric*.yaml variant), and generated fabrics covering each platform and Linux flavour with the features it
supports (static flood, EVPN, L3 VNI, anycast gateway, IPv6 underlay, custom UDP port, router ID equal to the
VTEP address, apart on its own loopback, apart on the router-ID loopback, access and trunk ports). Besides
the configuration files it writes, per Linux/FRR device, the kernel state the FRR driver deploys
(`<host>.kernel-state`: derived from the facts, or read from the script by renderers before that existed),
and the `vxauto docs` capability table, so a change of either shows up too.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import filecmp
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vxauto.errors import VxautoError  # noqa: E402
from vxauto.model import load_fabric  # noqa: E402
from vxauto.model.generate import GenerateOptions, generate, interface_name, write_inventory  # noqa: E402
from vxauto.model.platforms import PLATFORMS, Feature  # noqa: E402
from vxauto.render import render_fabric  # noqa: E402
from vxauto.render.docs import CAPABILITY_COLUMNS, capability_rows, markdown_table  # noqa: E402

# The loopback each platform's templates put the router ID on (a VTEP there shares it).
RID_LOOPBACK = {"eos": "Loopback0", "nxos": "loopback0", "junos": "lo0", "sonic": "Loopback0"}
LINUX_KERNEL = {"frr", "linux"}


def repo_intents() -> Iterator[tuple[str, Path, Path]]:
    """(name, directory, fabric file) of every intent stored in the repository."""
    candidates = [REPO / "inventory", *sorted((REPO / "containerlab").glob("*/inventory"))]
    candidates += sorted(p.parent for p in (REPO / "tests" / "fixtures").rglob("hosts.yaml"))
    for directory in candidates:
        for fabric in sorted(directory.glob("fabric*.yaml")):
            name = str(directory.relative_to(REPO)).replace("/", "_") + ("" if fabric.name == "fabric.yaml"
                                                                          else "_" + fabric.stem)
            yield name, directory, fabric


def _host_ports(platform: str, spines: int) -> list[dict[str, Any]]:
    return [
        {"interface": interface_name(platform, spines + 1), "segment": "seg1"},
        {"interface": interface_name(platform, spines + 2), "segment": "seg2", "segments": ["seg3", "seg4"]},
    ]


def generated_variant(leaf: str, flavour: str | None, flood: str, variant: str) -> dict[str, dict] | None:
    """One generated fabric: 2 spines, 3 leaves of platform `leaf`; None when the platform lacks a feature."""
    record = PLATFORMS[leaf]
    features = record.features_for(flavour)
    if flood == "static" and Feature.STATIC_FLOOD not in features:
        return None
    if flood == "evpn" and Feature.EVPN not in features:
        return None
    base = leaf if leaf not in {"linux", "ovs"} else "frr"
    spine = leaf if "spine" in record.roles else "frr"
    files = generate(GenerateOptions(leaves=3, vnis=6, platforms=(base,), flood=flood, spines=2, tenants=2,
                                     name=f"corpus-{leaf}"))
    hosts = files["hosts"]
    for name, host in hosts.items():
        data = host["data"]
        if name.startswith("spine"):
            host["platform"] = spine
            if spine != base:
                for i, link in enumerate(data["underlay"]):
                    link["interface"] = interface_name(spine, i + 1)
            continue
        host["platform"] = leaf
        if flavour:
            data["flavour"] = flavour
        data["ports"] = _host_ports(base, 2)
    fabric = files["fabric"]
    leaves = [h for n, h in hosts.items() if n.startswith("leaf")]
    if variant == "full":
        if Feature.CUSTOM_UDP_PORT in features:
            fabric["fabric"]["udp_port"] = 4790
        if flood == "evpn" and Feature.L3VNI in features:
            fabric["tenants"][0].update({"vrf": "RED", "l3vni": 50001, "l3vlan": 3001})
        if flood == "evpn" and Feature.ANYCAST_GATEWAY in features:
            for i, segment in enumerate(fabric["segments"]):
                if segment["tenant"] == "tenant1":
                    segment["gateway"] = f"10.{100 + i}.0.1/24"
        for i, host in enumerate(leaves):  # the VTEP address apart from the router ID, on its own interface
            if record.required_vtep_interface is None:
                host["data"]["vtep"]["ip"] = f"10.253.0.{i + 1}"
    elif variant == "rid-loopback":
        if leaf not in RID_LOOPBACK:
            return None
        for i, host in enumerate(leaves):  # apart from the router ID but on the router ID's loopback
            host["data"]["vtep"] = {"interface": RID_LOOPBACK[leaf], "ip": f"10.253.0.{i + 1}"}
    elif variant == "v6":
        if Feature.IPV6_UNDERLAY not in features:
            return None
        for host in hosts.values():
            for link in host["data"]["underlay"]:
                address, length = link["ip"].split("/")
                last = address.split(".")
                link["ip"] = f"fd00::{last[2]}:{last[3]}/{127 if length == '31' else length}"
            if "vtep" in host["data"]:
                host["data"]["vtep"]["ip"] = "fd00:ff::" + host["data"]["vtep"]["ip"].split(".")[-1]
    return files


def generated() -> Iterator[tuple[str, dict[str, dict]]]:
    for leaf, record in PLATFORMS.items():
        for flavour in record.flavours or (None,):
            for flood in ("evpn", "static"):
                for variant in ("equal", "full", "rid-loopback", "v6"):
                    files = generated_variant(leaf, flavour, flood, variant)
                    if files is not None:
                        yield "-".join(p for p in ("gen", leaf, flavour, flood, variant) if p), files


def _kernel_text(rendered: Any) -> str:
    """The kernel state the FRR driver deploys for a Linux/FRR device: the one the renderer derived from the
    facts (`kernel_state`), or, from renderers before it existed, the one the driver read from the script."""
    state = getattr(rendered, "kernel_state", None)
    if state is not None:
        return str(state.text())
    if rendered.platform not in ("frr", "linux") or not any(n.endswith(".sh") for n in rendered.files):
        return ""
    from vxauto.devices.napalm_frr.kernel_sync import KernelState, parse_script

    parsed = KernelState()
    for name in sorted(rendered.files):
        if name.endswith(".sh"):
            parse_script(rendered.files[name], name, parsed)
    return str(parsed.text())


def write_rendered(fabric_dir: Path, out: Path) -> None:
    fabric = load_fabric(fabric_dir)
    out.mkdir(parents=True, exist_ok=True)
    for rendered in render_fabric(fabric):
        rendered.write(out)
        kernel = _kernel_text(rendered)
        if kernel:
            (out / f"{rendered.host}.kernel-state").write_text(kernel, encoding="utf-8")


def write_corpus(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "capabilities.md").write_text(markdown_table(capability_rows(), CAPABILITY_COLUMNS), encoding="utf-8")
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, directory, fabric in repo_intents():
            work = Path(scratch) / name
            shutil.copytree(directory, work)
            shutil.copyfile(fabric, work / "fabric.yaml")
            try:
                write_rendered(work, out / name)
            except VxautoError as error:
                skipped.append(f"{name}: {error}")
        for name, files in generated():
            work = Path(scratch) / name
            write_inventory(copy.deepcopy(files), work)
            try:
                write_rendered(work, out / name)
            except VxautoError as error:
                skipped.append(f"{name}: {error}")
    (out / "SKIPPED.txt").write_text("".join(line + "\n" for line in skipped), encoding="utf-8")
    count = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"{out}: {count} files, {len(skipped)} intents refused by check (listed in SKIPPED.txt)")


def _same_data(a: Path, b: Path) -> str | None:
    """'JSON'/'YAML' when both files parse to equal data, keys in the same order (a difference of layout,
    not of meaning)."""
    loaders = {".json": ("JSON", json.loads), ".yaml": ("YAML", yaml.safe_load)}
    kind, load = loaders.get(a.suffix, (None, None))
    if load is None:
        return None
    try:
        left, right = (json.dumps(load(p.read_text(encoding="utf-8"))) for p in (a, b))
        return kind if left == right else None
    except ValueError:
        return None


def compare(left: Path, right: Path) -> int:
    names = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    names |= {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    differ = 0
    for name in sorted(names):
        a, b = left / name, right / name
        if not a.exists() or not b.exists():
            print(f"only in {'right' if not a.exists() else 'left'}: {name}")
            differ += 1
        elif not filecmp.cmp(a, b, shallow=False):
            differ += 1
            same = _same_data(a, b)
            print(f"differs: {name}" + (f" (text only: the same {same} data)" if same else ""))
            sys.stdout.writelines(difflib.unified_diff(
                a.read_text(encoding="utf-8").splitlines(keepends=True),
                b.read_text(encoding="utf-8").splitlines(keepends=True), str(a), str(b), n=1))
    print(f"{len(names)} files compared, {differ} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.paths)
    write_corpus(args.paths[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
