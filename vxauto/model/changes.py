"""Which hosts an intent change concerns: the hosts whose derived facts differ between two fabrics.

A new segment attached to two leaves changes those two leaves' facts (their VNIs, bridges, flood lists)
and, with EVPN, nothing else: the spines only pass routes on. Rendering, deploying and validating just
these hosts makes a change live in the time of one host's deploy instead of the whole fabric's, and
compares Python data only, without contacting a device. Facts are compared, not rendered text: the
renderer is a function of the facts, so equal facts render equal configurations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric


def changed_hosts(before: Fabric, after: Fabric) -> list[str]:
    """Hosts of `after` whose derived facts differ from `before` (new hosts included), in inventory order;
    hosts gone from `after` are not listed (nothing of theirs can be deployed from `after`)."""
    old = before.devices
    return [name for name, facts in after.devices.items() if old.get(name) != facts]
