"""Rendering: derived facts -> Jinja templates -> configuration files."""

from vxauto.render.engine import PLATFORM_OUTPUTS, RenderedConfig, render_device, render_fabric

__all__ = ["PLATFORM_OUTPUTS", "RenderedConfig", "render_device", "render_fabric"]
