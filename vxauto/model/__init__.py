"""Intent model: schema, loading, cross-validation and derived facts."""

from vxauto.model.fabric import Fabric, load_fabric
from vxauto.model.facts import DeviceFacts, SegmentFacts

__all__ = ["DeviceFacts", "Fabric", "SegmentFacts", "load_fabric"]
