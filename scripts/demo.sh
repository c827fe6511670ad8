#!/usr/bin/env bash
# The main job on the default demo fabric (inventory/ + containerlab/evpn-frr.clab.yml):
# validate the intent, render every config and the docs, bring the lab up, deploy, validate.
# The lab is taken down at the end (also on failure); KEEP_LAB=1 leaves it running to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
VX=.venv/bin/vxauto
LAB=containerlab/evpn-frr.clab.yml

$VX check -i inventory
$VX render -i inventory --out out/configs
$VX docs -i inventory --out out/docs
if [[ ${KEEP_LAB:-0} != 1 ]]; then
  trap '$VX lab down "$LAB" >/dev/null || true' EXIT
fi
$VX lab up "$LAB"
$VX deploy -i inventory --lab "$LAB" --commit
$VX validate -i inventory --lab "$LAB" --junit out/validate.xml
echo "demo: configs in out/configs, docs in out/docs/README.md, validation report in out/validate.xml"
