"""vxauto: intent-driven automation, lab and visibility for VXLAN overlay fabrics."""

__version__ = "0.1.0"
