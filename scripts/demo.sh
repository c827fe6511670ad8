#!/usr/bin/env bash
# The main job on the default demo fabric (inventory/): validate the intent, render every config,
# write the fabric documentation. Output goes to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
VX=.venv/bin/vxauto
$VX check -i inventory
$VX render -i inventory --out out/configs
$VX docs -i inventory --out out/docs
echo "demo: configs in out/configs, documentation in out/docs/README.md"
