"""Which containerlab node kinds exist, and which of them the netns runtime runs natively.

The netns runtime has no container images: a node is a network namespace on this machine running this
machine's FRR, sshd and iproute2. That is a faithful stand-in for containerlab's `linux` kind (with an FRR
image or a plain Linux image) and its `frr` kind, and for nothing else: a vendor NOS (cEOS, SR Linux,
NX-OS, SONiC, ...) only runs inside its own image, so those kinds need Docker and containerlab.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a node runs in the netns runtime."""

    FRR = "frr"  # FRR daemons + kernel forwarding (a router / VTEP)
    HOST = "host"  # a plain Linux host (iproute2 only)
    PYVTEP = "pyvtep"  # vxauto's Python software VTEP (vxauto vtep run)


# Kinds the netns runtime runs. `linux` is decided by its image (FRR image -> router, else host).
NATIVE_KINDS: dict[str, str] = {
    "linux": "an FRR image (e.g. quay.io/frrouting/frr) runs FRR, an image named *pyvtep* runs pyvtep, any "
    "other image is a Linux host",
    "frr": "FRR router (containerlab's frr kind)",
    "frrouting": "alias of frr",
}

# Kinds containerlab knows that need their vendor image (or a VM) and therefore Docker + containerlab.
CONTAINERLAB_ONLY_KINDS: frozenset[str] = frozenset(
    {
        "nokia_srlinux", "srl", "nokia_sros", "vr-sros", "vr-nokia_sros", "nokia_srsim",
        "ceos", "arista_ceos", "arista_veos", "vr-veos", "vr-arista_veos",
        "cisco_n9kv", "vr-n9kv", "vr-cisco_n9kv", "cisco_xrd", "xrd", "cisco_xrv9k", "vr-xrv9k",
        "cisco_xrv", "vr-xrv", "cisco_csr1000v", "vr-csr", "cisco_c8000v", "cisco_c8000", "c8000",
        "cisco_iol", "cisco_ftdv",
        "cisco_vios", "cisco_viosl2", "cisco_asav", "cisco_sdwan",
        "juniper_crpd", "crpd", "juniper_vmx", "vr-vmx", "juniper_vqfx", "vr-vqfx", "juniper_vsrx", "vr-vsrx",
        "juniper_vjunosrouter", "juniper_vjunosswitch", "juniper_vjunosevolved", "juniper_cjunosevolved",
        "juniper_csrx", "juniper_apstra",
        "sonic-vs", "sonic-vm", "dell_sonic", "cumulus_cvx", "cvx", "cumulus_vm",
        "ipinfusion_ocnos", "vr-ocnos", "checkpoint_cloudguard", "fortinet_fortigate", "paloalto_panos",
        "mikrotik_ros", "vr-ros", "huawei_vrp", "openbsd", "freebsd", "generic_vm", "keysight_ixiacone",
        "6wind_vsr", "arrcus_arcos", "fdio_vpp", "rare", "ostinato", "k8s-kind", "ext-container", "host",
        "bridge", "ovs-bridge", "border0", "ciena_saos", "f5_bigip-ve", "aruba_aoscx", "vr-aoscx",
    }
)

# Substrings of container images that run FRR (containerlab users run FRR as kind `linux` with one of these).
FRR_IMAGE_MARKERS = ("frrouting/frr", "/frr:", "frr:", "/frr", "frr-")
# Images of vxauto's software VTEP (kind linux): the node runs `vxauto vtep run` on its rendered pyvtep.yaml.
PYVTEP_IMAGE_MARKERS = ("pyvtep",)


def is_known_kind(kind: str) -> bool:
    return kind in NATIVE_KINDS or kind in CONTAINERLAB_ONLY_KINDS


def is_native(kind: str) -> bool:
    return kind in NATIVE_KINDS


def role_of(kind: str, image: str | None) -> Role:
    """FRR, pyvtep or plain host: kind `frr`, or kind `linux` with an FRR image, runs FRR; a pyvtep image
    runs pyvtep."""
    if kind in ("frr", "frrouting"):
        return Role.FRR
    lowered = (image or "").lower()
    if any(marker in lowered for marker in PYVTEP_IMAGE_MARKERS):
        return Role.PYVTEP
    if any(marker in lowered for marker in FRR_IMAGE_MARKERS):
        return Role.FRR
    return Role.HOST


def native_kinds_text() -> str:
    """One line per native kind, for error messages and `--help`."""
    return "; ".join(f"{kind} ({text})" for kind, text in NATIVE_KINDS.items())
