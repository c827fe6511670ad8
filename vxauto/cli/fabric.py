"""Intent commands: `check`, `render`, `docs`, `schema`, `fabric generate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vxauto.cli.common import (
    DEFAULT_INVENTORY,
    GroupsOption,
    HostsOption,
    InventoryOption,
    JsonOption,
    PlatformOption,
    RoleOption,
    WorkersOption,
    bad_input_exits,
    console,
    err_console,
)
from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric, load_fabric
from vxauto.model.schema import FabricIntent, HostIntent
from vxauto.model.select import select_hosts

# Nornir, Jinja and the renderers are imported by the commands that use them: `check` (what CI and editors
# run most) loads the intent only.

fabric_app = typer.Typer(no_args_is_help=True, help="Fabric-level helpers.")


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(render)
    app.command()(docs)
    app.command()(schema)
    app.add_typer(fabric_app, name="fabric")


def _summary(fabric: Fabric) -> str:
    return (
        f"fabric {fabric.name}: {len(fabric.hosts)} hosts, {len(fabric.vteps)} VTEPs, "
        f"{len(fabric.intent.segments)} segments, {len(fabric.intent.tenants)} tenants"
    )


def check(inventory: InventoryOption = DEFAULT_INVENTORY, as_json: JsonOption = False) -> None:
    """Validate the intent only: exit 0 if valid, 2 if not. Touches no device."""
    with bad_input_exits():
        fabric = load_fabric(inventory)
    if as_json:
        print(json.dumps({"valid": True, "fabric": fabric.name, "hosts": len(fabric.hosts),
                          "segments": len(fabric.intent.segments)}))
    else:
        console.print(f"[green]ok[/] {_summary(fabric)}")


def render(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the rendered configs.")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
    hosts: HostsOption = None,
    groups: GroupsOption = None,
    role: RoleOption = None,
    platform: PlatformOption = None,
    workers: WorkersOption = 1,
    as_json: JsonOption = False,
) -> None:
    """Render configs: one `<host>.<ext>` (or `<host>/` directory) per host under --out."""
    from vxauto.cli.progress import nornir_progress
    from vxauto.model.nornir_inventory import nornir_for
    from vxauto.render.tasks import render_config

    with bad_input_exits():
        fabric = load_fabric(inventory)
        selected = select_hosts(fabric, hosts, groups, role, platform)
    out.mkdir(parents=True, exist_ok=True)
    chosen = set(selected)
    nornir = nornir_for(fabric, workers).filter(filter_func=lambda host: host.name in chosen)
    with nornir_progress("rendering", enabled=not as_json) as processors:
        results = nornir.with_processors(processors).run(task=render_config, fabric=fabric, out_dir=out)
    summary: list[dict] = []
    for name in selected:
        result = results[name][0]
        if result.failed:
            summary.append({"host": name, "platform": fabric.hosts[name].platform, "files": [],
                            "error": str(result.exception or result.result)})
            continue
        rendered = result.result
        files = [str(out / f"{name}{Path(f).suffix}") if rendered.single else str(out / name / f)
                 for f in rendered.files]
        summary.append({"host": name, "platform": rendered.platform, "files": files})
    failed = [row for row in summary if "error" in row]
    if as_json:
        print(json.dumps({"rendered": summary, "failed": len(failed)}))
    else:
        table = Table(title=f"rendered {len(summary) - len(failed)} of {len(summary)} hosts into {out}")
        for column in ("host", "platform", "files"):
            table.add_column(column)
        for row in summary:
            table.add_row(row["host"], row["platform"], "\n".join(row["files"]) or f"[red]{row.get('error')}[/]")
        console.print(table)
    if failed:
        raise typer.Exit(1)


def docs(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the documentation.")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
) -> None:
    """Markdown + CSV tables of segments, VTEPs and platform capabilities, with an overlay diagram."""
    from vxauto.render.docs import write_docs

    with bad_input_exits():
        fabric = load_fabric(inventory)
    result = write_docs(fabric, out)
    for path in result.written:
        console.print(f"wrote {path}", highlight=False)
    if result.svg_skipped_reason:
        err_console.print(f"[yellow]warning:[/] no overlay.svg: {result.svg_skipped_reason}")


def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write fabric/host schemas here.")] = None,
) -> None:
    """Print (or write) the JSON Schema of fabric.yaml and of a host's data, for editors."""
    schemas = {
        "fabric.schema.json": FabricIntent.model_json_schema(),
        "host.schema.json": HostIntent.model_json_schema(),
    }
    if out is None:
        print(json.dumps(schemas, indent=2, sort_keys=True))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, data in schemas.items():
        (out / name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        console.print(f"wrote {out / name}", highlight=False)


@fabric_app.command("generate")
def fabric_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the generated inventory.")],
    leaves: Annotated[int, typer.Option(help="Number of leaves.")] = 4,
    vnis: Annotated[int, typer.Option(help="Number of L2 segments (VNIs).")] = 4,
    platforms: Annotated[str, typer.Option(help="Comma list, round-robin over the leaves.")] = "frr",
    flood: Annotated[str, typer.Option(help="static or evpn.")] = "evpn",
    spines: Annotated[int, typer.Option(help="Number of spines.")] = 2,
    span: Annotated[int, typer.Option(help="Leaves per segment (0: every leaf).")] = 0,
    tenants: Annotated[int, typer.Option(help="Number of tenants.")] = 4,
) -> None:
    """Write a synthetic, valid inventory for benchmarks, scale tests and demos."""
    from vxauto.model.generate import GenerateOptions, generate, write_inventory

    with bad_input_exits():
        if flood not in ("static", "evpn"):
            raise VxautoError.single("command line", "--flood", "must be static or evpn", flood)
        options = GenerateOptions(
            leaves=leaves, vnis=vnis, platforms=tuple(p.strip() for p in platforms.split(",") if p.strip()),
            flood=flood, spines=spines, span=span, tenants=min(tenants, vnis),
        )
        written = write_inventory(generate(options), out)
        fabric = load_fabric(out)  # a generated inventory must itself pass `vxauto check`
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"[green]ok[/] {_summary(fabric)}")
