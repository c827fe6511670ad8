"""Link settings of the TAPs pyvtep creates: MTU, bridge membership, an optional address, up/down."""

from __future__ import annotations

import contextlib
from ipaddress import IPv4Interface
from pathlib import Path

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


def prepare_forwarding_tap(name: str) -> bytes:
    """Make `name` a TAP whose received IPv4 packets the kernel forwards (and only those); return its MAC.

    Forwarding, accepting a local source address and reverse-path filtering are per input interface, so
    the rest of the host or namespace stays a non-router. IPv6 is switched off on it (no link-local
    chatter). A strict `all.rp_filter` overrides the per-interface value, so it is refused.
    """
    conf = Path("/proc/sys/net/ipv4/conf")
    try:
        if (conf / "all" / "rp_filter").read_text().strip() == "1":
            raise LinkError("net.ipv4.conf.all.rp_filter is 1 (strict): packets from the local VTEP address "
                            f"would be dropped on {name!r}")
        with contextlib.suppress(FileNotFoundError):
            Path("/proc/sys/net/ipv6/conf", name, "disable_ipv6").write_text("1")
        for key, value in (("forwarding", "1"), ("accept_local", "1"), ("rp_filter", "0"), ("send_redirects", "0")):
            (conf / name / key).write_text(value)
    except OSError as exc:
        raise LinkError(f"setting IPv4 forwarding on {name!r}: {exc}") from None
    with IPRoute() as ipr:
        index = _index(ipr, name)
        try:
            ipr.link("set", index=index, state="up")
        except NetlinkError as exc:
            raise LinkError(f"bringing {name!r} up: {exc}") from None
        address = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
    return bytes.fromhex(address.replace(":", ""))
