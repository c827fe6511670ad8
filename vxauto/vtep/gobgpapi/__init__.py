"""Python stubs for GoBGP's gRPC API, generated from GoBGP's own .proto files.

`proto/` holds gobgp.proto, attribute.proto and capability.proto unchanged from osrg/gobgp tag v3.10.0
(commit e32b28f77b0aadd0d9045d8996efa52f679b2284), the API of Debian's gobgpd 3.10, with the project's
licence (`proto/LICENSE`). The `*_pb2*.py(i)` modules are generated from them by `regenerate.sh`
(grpcio-tools); do not edit them by hand.
"""
