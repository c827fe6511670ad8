#!/usr/bin/env bash
# Install everything vxauto needs on a fresh Debian 12 machine (run as root): Debian packages and a
# Python virtual environment in .venv with vxauto installed editable. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  python3-venv python3-pip git
  iproute2 iputils-ping ethtool procps psmisc kmod
  frr openssh-server openssh-client iperf3 tcpdump tshark lldpd gobgpd traceroute pmacct
  graphviz ifupdown2 netplan.io openvswitch-switch chromium
)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/tmp/vxauto-apt.log 2>&1 || { tail -n 40 /tmp/vxauto-apt.log >&2; exit 1; }
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.vxauto-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "bootstrap: installing Python packages into .venv"
  log=.venv/pip-install.log
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test,ansible]'; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: pip install failed (full log: $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
