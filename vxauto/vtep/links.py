"""Link settings of the TAPs pyvtep creates: MTU, bridge membership, an optional address, up/down."""

from __future__ import annotations

import contextlib
from ipaddress import IPv4Interface

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

EEXIST = 17


class LinkError(RuntimeError):
    """A link operation failed; the message names the interface and what was asked."""


def _index(ipr: IPRoute, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LinkError(f"interface {name!r} not found")
    return int(found[0])


def is_bridge(name: str) -> bool:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        links = ipr.get_links(found[0])
        info = links[0].get_attr("IFLA_LINKINFO") if links else None
        return info is not None and info.get_attr("IFLA_INFO_KIND") == "bridge"


def configure_tap(name: str, mtu: int, bridge: str | None, address: IPv4Interface | None) -> None:
    """Set MTU, enslave to `bridge`, add `address`, bring the TAP up (idempotent)."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        try:
            ipr.link("set", index=index, mtu=mtu)
            if bridge is not None:
                ipr.link("set", index=index, master=_index(ipr, bridge))
            if address is not None:
                try:
                    ipr.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
                except NetlinkError as exc:
                    if exc.code != EEXIST:
                        raise
            ipr.link("set", index=index, state="up")
        except NetlinkError as exc:
            raise LinkError(f"configuring {name!r}: {exc}") from None


def detach_from_bridge(name: str) -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("set", index=found[0], master=0)


def remove_address(name: str, address: IPv4Interface) -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            with contextlib.suppress(NetlinkError):
                ipr.addr("del", index=found[0], address=str(address.ip), prefixlen=address.network.prefixlen)
