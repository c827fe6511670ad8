"""Vendor parsers for the VXLAN getters: device replies in, `vxauto.devices.contract` shapes out.

One module per platform (`eos`, `nxos`, `junos`, `frr` with `iproute2`). Each exposes its command
strings, pure functions from `Reply` objects to `VniTable`/`VtepTable`, and
`get_vxlan_vnis(fetch)` / `get_vxlan_vteps(fetch)` that a driver calls with its own way of running
one command. A malformed or unexpected reply raises `vxauto.errors.VxautoError` naming the host,
platform, command and the path inside the reply that was wrong.
"""
