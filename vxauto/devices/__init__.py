"""The device layer: how vxauto talks to a device, below deploy and validate.

- `contract`: the shapes the VXLAN getters return (`VniTable`, `VtepTable`) and their checks.
- `parsers`: device replies in, contract shapes out (one module per platform).
- `drivers`: NAPALM subclasses for EOS, NX-OS and Junos with the VXLAN getters and verification on.
- `napalm_frr`: the NAPALM driver for Linux VTEPs running FRR (NAPALM finds it as `napalm_frr`).
- `nornir_connection`: the Nornir connection plugin that opens these drivers.

Deploy and validate both import this package; it imports neither of them.
"""
