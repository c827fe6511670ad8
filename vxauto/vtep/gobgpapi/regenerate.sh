#!/usr/bin/env bash
# Regenerate the Python gRPC stubs in this directory from GoBGP's published API (proto/*.proto, copied
# unchanged from osrg/gobgp tag v3.10.0, commit e32b28f77b0aadd0d9045d8996efa52f679b2284: the API of
# Debian's gobgpd 3.10). Needs grpcio-tools (`pip install -e '.[test]'`). The protos import each other as
# "gobgp.proto"; they are compiled under this package's path so the generated modules import
# `vxauto.vtep.gobgpapi.gobgp_pb2` instead of a top-level `gobgp_pb2`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/vxauto/vtep/gobgpapi"
for name in gobgp attribute capability; do
  sed -E 's#^import "(gobgp|attribute|capability)\.proto";#import "vxauto/vtep/gobgpapi/\1.proto";#' \
    "$here/proto/$name.proto" >"$work/vxauto/vtep/gobgpapi/$name.proto"
done
"$python" -m grpc_tools.protoc -I "$work" --python_out="$root" --pyi_out="$root" --grpc_python_out="$root" \
  "$work"/vxauto/vtep/gobgpapi/{gobgp,attribute,capability}.proto
# grpc_tools emits an unused stub module for protos without services.
rm -f "$here/attribute_pb2_grpc.py" "$here/capability_pb2_grpc.py"
echo "regenerated: $(cd "$here" && ls ./*_pb2*.py* | tr '\n' ' ')"
