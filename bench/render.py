"""Benchmark: intent -> configs for generated fabrics (EOS + NX-OS mix, static and EVPN).

Times every phase end to end (read + validate, derive facts, render, write) for 16 leaves x 100 VNIs,
64 x 500 and 128 x 1000, and prints peak memory. If `pyavd` is importable, it renders an equivalent
EOS fabric with it in the same run and prints the ratio. Target (issue 4): 128 x 1000 in <= 2 s,
memory under 1 GB.

    .venv/bin/python bench/render.py [--shapes 16x100,64x500,128x1000] [--span N] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vxauto.model import load_fabric
from vxauto.model.generate import GenerateOptions, generate, write_inventory
from vxauto.render import render_device


def run_once(inventory: Path, out: Path) -> dict[str, float]:
    started = time.perf_counter()
    fabric = load_fabric(inventory)
    loaded = time.perf_counter()
    devices = fabric.devices
    derived = time.perf_counter()
    configs = [render_device(device) for device in devices.values()]
    rendered = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    size = 0
    for config in configs:
        for path in config.write(out):
            size += path.stat().st_size
    written = time.perf_counter()
    return {
        "load_validate_s": loaded - started,
        "facts_s": derived - loaded,
        "render_s": rendered - derived,
        "write_s": written - rendered,
        "total_s": written - started,
        "hosts": len(configs),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="16x100,64x500,128x1000")
    parser.add_argument("--platforms", default="eos,nxos")
    parser.add_argument("--span", type=int, default=8, help="leaves per segment for static flooding (0: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape; the best is reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pyavd-python", default=os.environ.get("PYAVD_PYTHON"),
                        help="interpreter with pyavd installed (default: this one, if pyavd is importable)")
    parser.add_argument("--pyavd-shapes", default=None, help="shapes to compare with pyavd (default: --shapes)")
    args = parser.parse_args()
    results = []
    work = Path(tempfile.mkdtemp(prefix="vxauto-bench-"))
    try:
        for shape in args.shapes.split(","):
            leaves, vnis = (int(x) for x in shape.split("x"))
            for flood in ("evpn", "static"):
                span = 0 if flood == "evpn" else args.span
                inventory = work / f"{shape}-{flood}"
                options = GenerateOptions(leaves=leaves, vnis=vnis, platforms=tuple(args.platforms.split(",")),
                                          flood=flood, span=span)
                write_inventory(generate(options), inventory)
                runs = [run_once(inventory, work / f"out-{shape}-{flood}-{i}") for i in range(args.repeat)]
                best = min(runs, key=lambda r: r["total_s"])
                best.update({"leaves": leaves, "vnis": vnis, "flood": flood,
                             "segments_per_leaf": vnis if span == 0 else round(vnis * span / leaves)})
                results.append(best)
                for i in range(args.repeat):
                    shutil.rmtree(work / f"out-{shape}-{flood}-{i}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    comparisons = compare_with_pyavd(args)
    if args.json:
        print(json.dumps({"results": results, "peak_rss_mb": round(peak_mb, 1), "pyavd": comparisons}))
        return
    print(f"{'shape':>10} {'flood':>6} {'seg/leaf':>8} {'load':>7} {'facts':>7} {'render':>7} {'write':>7} "
          f"{'total':>7} {'MB out':>7}")
    for r in results:
        print(f"{r['leaves']:>4}x{r['vnis']:<5} {r['flood']:>6} {r['segments_per_leaf']:>8} "
              f"{r['load_validate_s']:7.3f} {r['facts_s']:7.3f} {r['render_s']:7.3f} {r['write_s']:7.3f} "
              f"{r['total_s']:7.3f} {r['bytes'] / 1e6:7.1f}")
    print(f"peak RSS: {peak_mb:.0f} MB")
    if comparisons is None:
        print("pyavd: not importable, no comparison in this run (pip install pyavd, or --pyavd-python PY)")
        return
    print("\nsame EOS-only EVPN fabric (2 spines, every VLAN on every leaf), vxauto vs pyavd, this run:")
    print(f"{'shape':>10} {'vxauto s':>9} {'pyavd s':>9} {'ratio':>7}")
    for c in comparisons:
        print(f"{c['leaves']:>4}x{c['vnis']:<5} {c['vxauto_s']:9.3f} {c['pyavd_s']:9.3f} {c['ratio']:6.0f}x")
    print(f"pyavd {comparisons[0]['pyavd_version'] if comparisons else ''}")


def compare_with_pyavd(args: argparse.Namespace) -> list[dict] | None:
    """Time pyavd and vxauto on the same EOS-only EVPN fabric; None when pyavd is not available."""
    python = args.pyavd_python or (sys.executable if importlib.util.find_spec("pyavd") else None)
    if python is None:
        return None
    script = Path(__file__).with_name("pyavd_fabric.py")
    comparisons = []
    work = Path(tempfile.mkdtemp(prefix="vxauto-bench-avd-"))
    try:
        for shape in (args.pyavd_shapes or args.shapes).split(","):
            leaves, vnis = (int(x) for x in shape.split("x"))
            inventory = work / shape
            write_inventory(generate(GenerateOptions(leaves=leaves, vnis=vnis, platforms=("eos",))), inventory)
            ours = min((run_once(inventory, work / f"out-{shape}-{i}") for i in range(args.repeat)),
                       key=lambda r: r["total_s"])
            proc = subprocess.run([python, str(script), str(leaves), str(vnis)], capture_output=True, text=True,
                                  check=True)
            theirs = json.loads(proc.stdout.strip().splitlines()[-1])
            comparisons.append({"leaves": leaves, "vnis": vnis, "vxauto_s": ours["total_s"],
                                "pyavd_s": theirs["total_s"], "ratio": theirs["total_s"] / ours["total_s"],
                                "pyavd_version": theirs["pyavd"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return comparisons


if __name__ == "__main__":
    main()
