"""Nornir tasks for rendering: plain functions returning a `Result` (Nornir's task convention)."""

from __future__ import annotations

from pathlib import Path

from nornir.core.task import Result, Task

from vxauto.model.fabric import Fabric
from vxauto.render.engine import render_device


def render_config(task: Task, fabric: Fabric, out_dir: Path | None = None) -> Result:
    """Render the host's configuration; with `out_dir`, also write it there.

    `Result.result` is the `RenderedConfig` (file name -> text); an exception fails this host only.
    """
    rendered = render_device(fabric.device(task.host.name))
    if out_dir is not None:
        rendered.write(out_dir)
    return Result(host=task.host, result=rendered, changed=out_dir is not None)
