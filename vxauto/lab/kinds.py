"""Which containerlab node kinds exist, and which of them the netns runtime runs natively.

The netns runtime has no container images: a node is a network namespace on this machine running this
machine's FRR, sshd and iproute2. That is a faithful stand-in for containerlab's `linux` kind (with an FRR
image or a plain Linux image), and for nothing else: a vendor NOS (cEOS, SR Linux,
NX-OS, SONiC, ...) only runs inside its own image, so those kinds need Docker and containerlab.
"""

from __future__ import annotations

from enum import StrEnum

#: Where a lab runs: containerlab (with Docker), network namespaces, or auto (containerlab if Docker answers).
RUNTIMES = ("auto", "netns", "containerlab")


class Role(StrEnum):
    """What a node runs in the netns runtime."""

    FRR = "frr"  # FRR daemons + kernel forwarding (a router / VTEP)
    HOST = "host"  # a plain Linux host (iproute2 only)
    PYVTEP = "pyvtep"  # vxauto's Python software VTEP (vxauto vtep run)


# Kinds the netns runtime runs. `linux` is decided by its image (FRR image -> router, else host). containerlab
# has no `frr` kind: its users run FRR as kind `linux` with an FRR image, and so do vxauto's topologies.
NATIVE_KINDS: dict[str, str] = {
    "linux": "an FRR image (e.g. quay.io/frrouting/frr) runs FRR, an image named *pyvtep* runs pyvtep, any "
    "other image is a Linux host",
}

# Every other kind name containerlab registers (its nodes/*/ packages, aliases included), plus the kinds its
# topology schema (schemas/clab.schema.json) lists, as of containerlab commit
# 39ff2b7ccce20f3c4610fcbd1fc030582f4499c1 (2026-08-21). They need their vendor image (or a VM), so Docker and
# containerlab.
CONTAINERLAB_ONLY_KINDS: frozenset[str] = frozenset(
    {
        "6wind_vsr", "arista_ceos", "arista_veos", "arrcus_arcos", "aruba_aoscx", "border0", "bridge", "c8000",
        "ceos", "checkpoint_cloudguard", "ciena_saos", "cisco_asav", "cisco_c8000", "cisco_c8000v", "cisco_cat9kv",
        "cisco_csr1000v", "cisco_ftdv", "cisco_iol", "cisco_n9kv", "cisco_sdwan", "cisco_vios", "cisco_xrd",
        "cisco_xrd_vrouter", "cisco_xrv", "cisco_xrv9k", "cjunosevolved", "crpd", "cumulus_cvx", "cvx",
        "dell_ftosv", "dell_sonic", "ext-container", "f5_bigip-ve", "fdio_vpp", "fortinet_fortigate", "freebsd",
        "generic_vm", "host", "huawei_vrp", "ipinfusion_ocnos", "juniper_cjunosevolved", "juniper_crpd",
        "juniper_csrx", "juniper_vjunosevolved", "juniper_vjunosrouter", "juniper_vjunosswitch", "juniper_vmx",
        "juniper_vqfx", "juniper_vsrx", "k8s-kind", "keysight_ixia-c-one", "mikrotik_ros", "nokia_srlinux",
        "nokia_sros", "nokia_srsim", "nvidia_cumulusvx", "openbsd", "openwrt", "ostinato", "ovs-bridge",
        "paloalto_panos", "plvision_sonic", "rare", "sonic-vm", "sonic-vs", "spirent_stc", "srl", "veesix_osvbng",
        "vr-aoscx", "vr-arista_veos", "vr-aruba_aoscx", "vr-ciena_saos", "vr-cisco_csr1000v", "vr-cisco_n9kv",
        "vr-cisco_xrv", "vr-cisco_xrv9k", "vr-csr", "vr-dell_ftosv", "vr-ftosv", "vr-juniper_vmx",
        "vr-juniper_vqfx", "vr-juniper_vsrx", "vr-mikrotik_ros", "vr-n9kv", "vr-nokia_sros", "vr-paloalto_panos",
        "vr-pan", "vr-ros", "vr-sros", "vr-veos", "vr-vmx", "vr-vqfx", "vr-vsrx", "vr-xrv", "vr-xrv9k",
        "vyosnetworks_vyos", "xrd",
    }
)

# Names people reach for that containerlab does not register, with what to write instead.
NOT_CONTAINERLAB_KINDS: dict[str, str] = {
    "frr": "containerlab has no kind frr: use kind linux with an FRR image (e.g. quay.io/frrouting/frr:8.4.1)",
    "frrouting": "containerlab has no kind frrouting: use kind linux with an FRR image "
    "(e.g. quay.io/frrouting/frr:8.4.1)",
}

# Substrings of container images that run FRR (containerlab users run FRR as kind `linux` with one of these).
FRR_IMAGE_MARKERS = ("frrouting/frr", "/frr:", "frr:", "/frr", "frr-")
# Images of vxauto's software VTEP (kind linux): the node runs `vxauto vtep run` on its rendered pyvtep.yaml.
PYVTEP_IMAGE_MARKERS = ("pyvtep",)


def is_known_kind(kind: str) -> bool:
    return kind in NATIVE_KINDS or kind in CONTAINERLAB_ONLY_KINDS


def is_native(kind: str) -> bool:
    return kind in NATIVE_KINDS


def role_of(image: str | None) -> Role:
    """FRR, pyvtep or plain host, for kind `linux` (the only native kind): its image decides."""
    lowered = (image or "").lower()
    if any(marker in lowered for marker in PYVTEP_IMAGE_MARKERS):
        return Role.PYVTEP
    if any(marker in lowered for marker in FRR_IMAGE_MARKERS):
        return Role.FRR
    return Role.HOST


def native_kinds_text() -> str:
    """One line per native kind, for error messages and `--help`."""
    return "; ".join(f"{kind} ({text})" for kind, text in NATIVE_KINDS.items())
