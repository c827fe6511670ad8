"""`vxauto lab` sub-commands: up, down, status, inspect, exec (move and netem: vxauto.cli.lab_mobility).

With `containerlab` on PATH and a Docker engine answering, the commands hand over to containerlab
(`--runtime auto`, the default); otherwise the topology runs on network namespaces (vxauto.lab.build, .teardown).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vxauto.cli import lab_mobility
from vxauto.cli.common import JsonOption, RuntimeOption, TopologyArgument, bad_input_exits, console, err_console
from vxauto.lab import api, build, teardown
from vxauto.lab.configs import node_startups
from vxauto.lab.containerlab import Containerlab, Environment, choose_runtime, probe_environment
from vxauto.lab.kinds import native_kinds_text
from vxauto.lab.netns import LabError
from vxauto.lab.topology import Topology, load_topology

app = typer.Typer(
    no_args_is_help=True,
    help=f"Run containerlab topologies: containerlab itself when Docker is there, else network namespaces "
    f"(native kinds: {native_kinds_text()}).",
)

EXIT_FAILED = 1


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="lab", help="Run containerlab topologies (containerlab or netns runtime).")


@contextmanager
def _lab_errors() -> Iterator[None]:
    """Bad input -> exit 2 (bad_input_exits); a failed lab operation -> its message and exit 1."""
    with bad_input_exits():
        try:
            yield
        except LabError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False)
            raise typer.Exit(EXIT_FAILED) from None


def _runtime(requested: str) -> tuple[str, Containerlab | None]:
    environment = probe_environment() if requested != "netns" else _NO_CONTAINERLAB
    chosen = choose_runtime(requested, environment)
    if chosen == "containerlab" and environment.containerlab is not None:
        return chosen, Containerlab(environment.containerlab)
    return chosen, None


_NO_CONTAINERLAB = Environment(None, False)  # --runtime netns: no need to probe Docker


def _progress(message: str) -> None:
    err_console.print(f"[dim]{message}[/]", highlight=False)


@app.command()
def up(
    topology: TopologyArgument,
    configs: Annotated[
        Path | None,
        typer.Option("--configs", help="Rendered configs (`vxauto render --out DIR`): DIR/<node>/frr.conf, "
                     "DIR/<node>/*.sh, DIR/<node>.sh."),
    ] = None,
    runtime_name: RuntimeOption = "auto",
    reconfigure: Annotated[bool, typer.Option("--reconfigure", help="Rebuild a running lab.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring a lab up (idempotent: an unchanged running lab is left as it is)."""
    with _lab_errors():
        loaded = load_topology(topology)
        _, containerlab = _runtime(runtime_name)
        if containerlab is not None:
            startups = node_startups(loaded, configs) if configs else None
            deployed = containerlab.deploy(loaded, startups, reconfigure)
            raise typer.Exit(deployed or lab_mobility.declared_handover(loaded))
        lab = build.up(loaded, configs, reconfigure, _progress)
    for warning in lab.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if as_json:
        print(json.dumps(_lab_summary(lab)))
        return
    _print_nodes(loaded, api.status(loaded))
    console.print(f"SSH: ssh -F {lab.ssh_config} <node>    inventories: {lab.nornir_inventory}, "
                  f"{lab.ansible_inventory}", highlight=False, soft_wrap=True)


@app.command()
def down(
    topology: Annotated[
        Path | None, typer.Argument(help="Topology file of the lab (or the name of a recorded netns lab).")
    ] = None,
    all_labs: Annotated[bool, typer.Option("--all", help="Remove every vxauto netns lab on record.")] = False,
    runtime_name: RuntimeOption = "auto",
) -> None:
    """Remove a lab: every namespace, link, bridge, process and file it created."""
    if (topology is None) == (not all_labs):
        err_console.print("error: give a topology file or --all (not both)")
        raise typer.Exit(2)
    with _lab_errors():
        if all_labs:
            results = teardown.down_all()
            for name, leftovers in results.items():
                _report_down(name, leftovers)
            if not results:
                console.print("no vxauto lab on record")
            if any(results.values()):
                raise typer.Exit(EXIT_FAILED)
            return
        assert topology is not None
        if not topology.exists():  # a recorded lab whose topology file moved away: its name is enough
            leftovers_by_name = teardown.down_by_name(str(topology))
            if leftovers_by_name is not None:
                _report_down(str(topology), leftovers_by_name)
                raise typer.Exit(EXIT_FAILED if leftovers_by_name else 0)
        loaded = load_topology(topology)
        _, containerlab = _runtime(runtime_name)
        if containerlab is not None:
            raise typer.Exit(containerlab.destroy(loaded))
        leftovers = teardown.down(loaded)
    _report_down(loaded.name, leftovers)
    if leftovers:
        raise typer.Exit(EXIT_FAILED)


def _report_down(name: str, leftovers: list[str]) -> None:
    if leftovers:
        err_console.print(f"[bold red]error:[/] lab {name}: could not remove {', '.join(leftovers)}")
    else:
        console.print(f"lab {name} is down", highlight=False)


@app.command()
def status(topology: TopologyArgument, as_json: JsonOption = False) -> None:
    """Is the lab up? One line per node (namespace, processes)."""
    with _lab_errors():
        loaded = load_topology(topology)
        result = api.status(loaded)
    if as_json:
        print(json.dumps(asdict(result)))
        return
    console.print(f"lab {result.name}: {result.state}", highlight=False)
    if result.nodes:
        _print_nodes(loaded, result)


@app.command()
def inspect(topology: TopologyArgument, runtime_name: RuntimeOption = "auto", as_json: JsonOption = False) -> None:
    """Nodes with kind, image, state and management address (like `containerlab inspect`)."""
    with _lab_errors():
        loaded = load_topology(topology)
        _, containerlab = _runtime(runtime_name)
        if containerlab is not None:
            raise typer.Exit(containerlab.inspect(loaded, as_json))
        lab = api.attach(loaded)
    rows = [_inspect_row(loaded, lab, name) for name in lab.nodes]
    if as_json:
        print(json.dumps({"lab": lab.name, "lab_dir": str(lab.lab_dir), "nodes": rows}))
        return
    table = Table(title=f"lab {lab.name} ({lab.lab_dir})")
    for column in ("name", "kind", "image", "state", "ipv4 address"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["kind"], row["image"] or "", row["state"], row["ipv4_address"])
    console.print(table)  # interfaces, namespace and process IDs are in --json


def _inspect_row(topology: Topology, lab: api.Lab, name: str) -> dict:
    node = lab.nodes[name]
    states = {s.name: s.state for s in lab.status()}
    return {
        "name": topology.long_name(name), "node": name, "kind": node.kind, "image": node.image,
        "role": node.role, "state": states.get(name, "?"), "ipv4_address": f"{node.mgmt_ipv4}/"
        f"{topology.mgmt.subnet.prefixlen}", "namespace": node.namespace, "interfaces": node.interfaces,
        "pids": node.pids,
    }


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(  # the command is called exec, like containerlab's
    topology: TopologyArgument,
    node: Annotated[str, typer.Argument(help="Node name (as in the topology).")],
    command: Annotated[list[str], typer.Argument(help="Command to run inside the node (after --).")],
    runtime_name: RuntimeOption = "auto",
) -> None:
    """Run a command inside a node: `vxauto lab exec FILE leaf1 -- vtysh -c 'show bgp summary'`."""
    with _lab_errors():
        loaded = load_topology(topology)
        _, containerlab = _runtime(runtime_name)
        if containerlab is not None:
            raise typer.Exit(containerlab.exec(loaded, node, command))
        lab = api.attach(loaded)
        argv = lab.node_argv(lab.node(node).name, command)
    result = subprocess.run(argv, check=False)
    sys.exit(result.returncode)


def _print_nodes(topology: Topology, result: api.LabStatus) -> None:
    table = Table(title=f"lab {result.name}: {result.state}")
    for column in ("node", "kind", "role", "mgmt ipv4", "namespace", "state"):
        table.add_column(column)
    for node in result.nodes:
        colour = "green" if node.state == "running" else "red"
        table.add_row(node.name, node.kind, node.role, node.mgmt_ipv4, node.namespace,
                      f"[{colour}]{node.state}[/]")
    console.print(table)


app.command()(lab_mobility.move)
app.add_typer(lab_mobility.netem_app, name="netem")


def _lab_summary(lab: api.Lab) -> dict:
    return {
        "lab": lab.name, "lab_dir": str(lab.lab_dir), "key_file": str(lab.key_file),
        "known_hosts": str(lab.known_hosts), "nornir_inventory": str(lab.nornir_inventory),
        "ansible_inventory": str(lab.ansible_inventory), "warnings": lab.warnings,
        "nodes": {name: {"mgmt_ipv4": n.mgmt_ipv4, "namespace": n.namespace, "kind": n.kind, "role": n.role}
                  for name, n in lab.nodes.items()},
    }
