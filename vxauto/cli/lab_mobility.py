"""`vxauto lab move` (live-migrate a VM) and `vxauto lab netem set|show|reset` (WAN impairments).

`netem` takes containerlab's `tools netem` flags; with containerlab and Docker it hands over to containerlab,
otherwise the netns runtime applies them (netem where the kernel has it, else tbf and a userspace delay line:
vxauto.lab.wan). `move` needs the netns runtime (it moves veth ends between namespaces).
"""

from __future__ import annotations

import json
import subprocess
from typing import Annotated

import typer
from rich.table import Table

from vxauto.cli.common import JsonOption, RuntimeOption, TopologyArgument, console
from vxauto.errors import Problem, VxautoError
from vxauto.lab import api, wan
from vxauto.lab import move as lab_move
from vxauto.lab.containerlab import Containerlab
from vxauto.lab.netns import LabError
from vxauto.lab.topology import Topology

netem_app = typer.Typer(no_args_is_help=True, help="Link impairments, with containerlab's `tools netem` flags.")

NodeOption = Annotated[str, typer.Option("--node", "-n", help="Node name (as in the topology).")]
InterfaceOption = Annotated[str, typer.Option("--interface", "-i", help="Interface of the node, e.g. eth3.")]


def move(
    topology: TopologyArgument,
    vm: Annotated[str, typer.Argument(help="The VM node to migrate.")],
    to: Annotated[str, typer.Option("--to", help="Target hypervisor or VTEP node.")],
    runtime_name: RuntimeOption = "auto",
    as_json: JsonOption = False,
    no_announce: Annotated[bool, typer.Option(
        "--no-announce", help="Do not have the VM announce itself (shows what data-plane learning leaves stale).")
    ] = False,
) -> None:
    """Live-migrate a VM: it keeps MAC, IP and sockets; its NICs join the target's bridge; it announces itself."""
    from vxauto.cli.lab import _lab_errors

    with _lab_errors():
        loaded = api.load(topology)
        if _runtime_containerlab(runtime_name) is not None:
            raise LabError("lab move needs the netns runtime (it moves a VM's veth end between network "
                           "namespaces, which containerlab's containers do not allow): use --runtime netns")
        lab = api.attach(loaded)
        result = lab_move.move(loaded, lab.state, vm, to, announce=not no_announce)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    for nic in result.nics:
        segment = f"VNI {nic.vni}" if nic.vni is not None else f"bridge {nic.bridge}"
        console.print(f"{vm}:{nic.vm_interface}: {nic.source}:{nic.source_interface} -> {nic.target}:"
                      f"{nic.target_interface} ({segment}, bridge {nic.bridge})", highlight=False)
    if no_announce:
        console.print(f"{vm} moved to {to}; not announced", highlight=False)
        for entry in result.stale:
            console.print(f"stale: {entry}", style="yellow", highlight=False)
        return
    console.print(f"{vm} moved to {to}; {result.announcements} announcements sent (gratuitous ARP / unsolicited NA); "
                  f"the other VTEPs forward to the new place after {result.relearned_s:.2f} s", highlight=False)
    for entry in result.stale:
        console.print(f"stale after {lab_move.RELEARN_TIMEOUT_S:g} s: {entry}", style="yellow", highlight=False)


def _runtime_containerlab(runtime_name: str) -> Containerlab | None:
    from vxauto.cli.lab import _runtime

    return _runtime(runtime_name)[1]


@netem_app.command("set")
def netem_set(
    topology: TopologyArgument,
    node: NodeOption,
    interface: InterfaceOption,
    delay: Annotated[str | None, typer.Option("--delay", help="Delay, a duration (e.g. 10ms).")] = None,
    jitter: Annotated[str | None, typer.Option("--jitter", help="Jitter, a duration (needs --delay).")] = None,
    loss: Annotated[float | None, typer.Option("--loss", help="Packet loss, percent.")] = None,
    rate: Annotated[int | None, typer.Option("--rate", help="Rate limit, kbit/s.")] = None,
    corruption: Annotated[float | None, typer.Option("--corruption", help="Corrupted packets, percent.")] = None,
    runtime_name: RuntimeOption = "auto",
) -> None:
    """Set the impairments of one node interface (replacing what was set before, as containerlab does)."""
    from vxauto.cli.lab import _lab_errors

    values = {key: value for key, value in (("delay", delay), ("jitter", jitter), ("loss", loss), ("rate", rate),
                                            ("corruption", corruption)) if value is not None}
    with _lab_errors():
        impaired, errors = wan.impairment(values)
        if impaired is None:
            raise VxautoError([Problem("command line", f"--{key}", message, value) for key, message, value in errors])
        loaded = api.load(topology)
        containerlab = _runtime_containerlab(runtime_name)
        if containerlab is not None:
            raise typer.Exit(_handover(loaded, node, interface, impaired))
        applied = wan.apply(api.attach(loaded).state, node, interface, impaired)
    console.print(f"{node}:{interface}: {' '.join(impaired.flags()) or 'no impairment'} (by {applied.method})",
                  highlight=False)


def _handover(topology: Topology, node: str, interface: str, impaired: wan.Impairment) -> int:
    return subprocess.run(wan.containerlab_argv(topology, node, interface, impaired), check=False).returncode


@netem_app.command("reset")
def netem_reset(
    topology: TopologyArgument,
    node: NodeOption,
    interface: InterfaceOption,
    runtime_name: RuntimeOption = "auto",
) -> None:
    """Remove every impairment of one node interface."""
    from vxauto.cli.lab import _lab_errors

    with _lab_errors():
        loaded = api.load(topology)
        if _runtime_containerlab(runtime_name) is not None:
            argv = ["containerlab", "tools", "netem", "reset", "-n", loaded.long_name(node), "-i", interface]
            raise typer.Exit(subprocess.run(argv, check=False).returncode)
        wan.reset(api.attach(loaded).state, node, interface)
    console.print(f"{node}:{interface}: impairments removed", highlight=False)


@netem_app.command("show")
def netem_show(
    topology: TopologyArgument,
    node: Annotated[str | None, typer.Option("--node", "-n", help="Only this node.")] = None,
    as_json: JsonOption = False,
    runtime_name: RuntimeOption = "auto",
) -> None:
    """The impairments in place and the method applying each (netem, tbf, delay-line)."""
    from vxauto.cli.lab import _lab_errors

    with _lab_errors():
        loaded = api.load(topology)
        if _runtime_containerlab(runtime_name) is not None:
            if node is None:
                raise LabError("with containerlab, netem show needs --node (as `containerlab tools netem show`)")
            argv = ["containerlab", "tools", "netem", "show", "-n", loaded.long_name(node),
                    *(["--format", "json"] if as_json else [])]
            raise typer.Exit(subprocess.run(argv, check=False).returncode)
        rows = wan.shown(api.attach(loaded).state, node)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table()
    for column in ("node", "interface", "delay", "jitter", "loss %", "rate kbit/s", "corruption %", "method"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["node"], row["interface"], f"{row['delay_ms']:g}ms", f"{row['jitter_ms']:g}ms",
                      f"{row['loss']:g}", str(row["rate_kbit"]), f"{row['corruption']:g}", row["method"])
    console.print(table)


def declared_handover(topology: Topology) -> int:
    """After `containerlab deploy`: the topology's declared impairments through `containerlab tools netem set`."""
    for item in wan.declared(topology):
        code = _handover(topology, item.node, item.interface, item.impairment)
        if code != 0:
            return code
    return 0
