"""pyvtep: a Python software VTEP (RFC 7348) with TAPs, UDP GSO/GRO offloads and GoBGP EVPN.

Run it with `vxauto vtep run CONFIG` or `python -m vxauto.vtep run CONFIG`; see docs/pyvtep.md.
"""
