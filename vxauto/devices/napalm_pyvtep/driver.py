"""`PyvtepDriver`: a NAPALM driver for pyvtep, vxauto's Python software VTEP (docs/pyvtep.md).

    driver = napalm.get_network_driver("pyvtep")        # imports the `napalm_pyvtep` shim package
    with driver("172.20.22.23", "root", "", optional_args={
        "key_file": "lab/id_ed25519", "known_hosts": "lab/known_hosts", "api_socket": "/run/pyvtep/pv1.sock",
    }) as device:
        device.load_replace_candidate(filename="out/mixed-pyvtep/pv1/pyvtep.yaml")
        print(device.compare_config())
        device.commit_config()

optional_args:
- `port` (22), `key_file`, `known_hosts` (alias `alt_key_file`; default: the user's ~/.ssh/known_hosts),
  `ssh_config_file`, `conn_timeout` (10 s): the SSH login, as for the FRR driver (`link.py`). Host keys are
  always checked.
- `api_socket`: pyvtep's API socket on the host (its configuration's `api.socket`); default: the one socket
  in /run/pyvtep (more than one, or none, is an error saying to set it).
- `python` (`python3`): the host's Python, which relays the API requests.
- `state_dir` (`/var/lib/vxauto`): rollback points live in `<state_dir>/pyvtep/`.

Configuration: the driver manages the one file pyvtep reloads from (`config` reply: `path`), replaced as a
whole. A candidate is checked with pyvtep's own loader when it is loaded (a file pyvtep would refuse is
refused then, with the loader's file/line/field message). `compare_config()` is a unified diff of the file
against the candidate, plus a note when pyvtep runs other settings than its file says. `commit_config()`
saves the file as a rollback point, writes the candidate, asks pyvtep to `reload`, and checks that pyvtep
then runs exactly the candidate; if the reload fails, or needs a restart for a setting (`local_ip`, `evpn`,
...: pyvtep keeps running the old value), the previous file is written back and reloaded and `CommitError`
says why. `rollback()` restores the last rollback point the same way. No commit-confirm (`revert_in`).
"""

from __future__ import annotations

import difflib
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from napalm.base import NetworkDriver, models
from napalm.base.exceptions import (
    CommandErrorException,
    CommitConfirmException,
    CommitError,
    ConnectionException,
    MergeConfigException,
    ReplaceConfigException,
)

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.napalm_frr import parse_core
from vxauto.devices.napalm_frr.remote import Completed, Session, SshOptions
from vxauto.devices.napalm_pyvtep import getters
from vxauto.devices.napalm_pyvtep.link import PyvtepLink
from vxauto.devices.parsers.mobility import VxlanMacTable
from vxauto.errors import VxautoError
from vxauto.vtep.config import config_from_text

DEFAULT_STATE_DIR = "/var/lib/vxauto"
SOCKET_DIR = "/run/pyvtep"
LINKS = "ip -j -d link show"


class PyvtepDriver(NetworkDriver):
    """NAPALM driver for pyvtep (see the module docstring for options and semantics)."""

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict | None = None,
    ) -> None:
        self.hostname = hostname
        self.username = username
        self.password = password
        self.timeout = timeout
        args = dict(optional_args or {})
        self.ssh_options = SshOptions(
            host=hostname, username=username, password=password or None, port=int(args.get("port") or 22),
            timeout=float(timeout), key_file=_optional_str(args.get("key_file")),
            known_hosts=_optional_str(args.get("known_hosts") or args.get("alt_key_file")),
            ssh_config_file=_optional_str(args.get("ssh_config_file")),
            conn_timeout=float(args.get("conn_timeout") or 10),
        )
        self.api_socket = _optional_str(args.get("api_socket"))
        self.python = str(args.get("python") or "python3")
        self.state_dir = str(args.get("state_dir") or DEFAULT_STATE_DIR).rstrip("/") + "/pyvtep"
        self._session: Session | None = None
        self._link: PyvtepLink | None = None
        self._candidate: str | None = None

    # ------------------------------------------------------------------ connection

    def open(self) -> None:
        """Log in, find the API socket, and ask pyvtep for its status (a pyvtep that does not answer fails here)."""
        session = Session(self.ssh_options)
        try:
            socket = self.api_socket or self._discover_socket(session)
            link = PyvtepLink(session, self.hostname, socket, self.python)
            link.ask({"op": "status"})
        except Exception:
            session.close()
            raise
        self._session, self._link = session, link

    def _discover_socket(self, session: Session) -> str:
        found = session.run(f"ls -1 {SOCKET_DIR}/*.sock 2>/dev/null").stdout.split()
        if len(found) != 1:
            what = f"{len(found)} sockets there ({', '.join(found)})" if found else "none there"
            raise ConnectionException(f"{self.hostname}: cannot tell which pyvtep to manage in {SOCKET_DIR} ({what}): "
                                      "set optional_args api_socket to the api.socket of its configuration")
        return found[0]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = self._link = None

    def is_alive(self) -> models.AliveDict:
        return {"is_alive": bool(self._session is not None and self._session.alive())}

    def _api(self) -> PyvtepLink:
        """The open link (a method, not a property: NAPALM's signature test walks every attribute)."""
        if self._link is None:
            raise ConnectionException(f"{self.hostname}: not connected (call open() first)")
        return self._link

    def _json(self, result: Completed) -> Any:
        return parse_core.decode(result.checked(self.hostname).stdout, f"{self.hostname} `{result.command}`")

    # ------------------------------------------------------------------ getters

    def get_facts(self) -> models.FactsDict:
        (status,), results = self._api().read([{"op": "status"}], {
            "kernel": "uname -sr", "uptime": "cat /proc/uptime", "links": "ip -j link show",
            "fqdn": "hostname -f 2>/dev/null || hostname"})
        with getters.reading(self.hostname, ["status"]):
            return getters.facts(status, results["kernel"].stdout, results["uptime"].stdout,
                                 self._json(results["links"]) or [], results["fqdn"].stdout)

    def get_interfaces(self) -> dict[str, models.InterfaceDict]:
        results = self._api().session.batch({
            "links": LINKS,
            "speeds": 'for dev in /sys/class/net/*; do printf "%s %s\\n" "${dev##*/}" '
                      '"$(cat "$dev/speed" 2>/dev/null || echo -1)"; done',
        })
        return parse_core.interfaces(self._json(results["links"]) or [], parse_core.speeds(results["speeds"].stdout))

    def get_interfaces_ip(self) -> dict[str, models.InterfacesIPDict]:
        return parse_core.interfaces_ip(self._json(self._api().session.run("ip -j addr show")) or [])

    def get_vxlan_vnis(self) -> VniTable:
        (config, vnis, vteps), results = self._api().read(
            [{"op": "config"}, {"op": "vnis"}, {"op": "vteps"}], {"links": LINKS})
        with getters.reading(self.hostname, ["config", "vnis", "vteps", LINKS]):
            return getters.vni_table(config["running"], vnis, vteps, self._json(results["links"]) or [], self.hostname)

    def get_vxlan_vteps(self) -> VtepTable:
        (vteps,) = self._api().ask({"op": "vteps"})
        with getters.reading(self.hostname, ["vteps"]):
            return getters.vtep_table(vteps, self.hostname)

    def get_mac_address_table(self) -> list[models.MACAdressTable]:
        macs, vnis = self._api().ask({"op": "macs"}, {"op": "vnis"})
        with getters.reading(self.hostname, ["macs", "vnis"]):
            return getters.mac_address_table(macs, vnis, self.hostname)

    def get_vxlan_macs(self) -> VxlanMacTable:
        macs, vnis, evpn = self._api().ask({"op": "macs"}, {"op": "vnis"}, {"op": "evpn"})
        with getters.reading(self.hostname, ["macs", "vnis", "evpn"]):
            return getters.vxlan_mac_table(macs, vnis, evpn, self.hostname)

    def get_bgp_neighbors(self) -> dict[str, models.BGPStateNeighborsPerVRFDict]:
        config, evpn = self._api().ask({"op": "config"}, {"op": "evpn"})
        with getters.reading(self.hostname, ["config", "evpn"]):
            return getters.bgp_neighbors(config["running"], evpn)

    def get_config(
        self,
        retrieve: str = "all",
        full: bool = False,
        sanitized: bool = False,
        format: str = "text",
    ) -> models.ConfigDict:
        """running and startup: the file pyvtep reloads from (pyvtep starts from it, and a commit leaves
        it equal to what runs); candidate: the loaded candidate. Only text; nothing to sanitize."""
        if format != "text":
            raise NotImplementedError("the pyvtep driver returns configurations as text only")
        config: models.ConfigDict = {"running": "", "startup": "", "candidate": ""}
        if retrieve in ("all", "running", "startup"):
            text = self._config()["file"] or ""
            config["running"] = text if retrieve in ("all", "running") else ""
            config["startup"] = text if retrieve in ("all", "startup") else ""
        if retrieve in ("all", "candidate"):
            config["candidate"] = self._candidate or ""
        return config

    def _config(self) -> dict[str, Any]:
        (config,) = self._api().ask({"op": "config"})
        return dict(config)

    # ------------------------------------------------------------------ candidate

    def load_replace_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        if (filename is None) == (config is None):
            raise ReplaceConfigException("give exactly one of filename= or config=")
        text = Path(filename).read_text(encoding="utf-8") if filename is not None else config or ""
        self._parsed(text, f"{filename or 'candidate'}", ReplaceConfigException)
        self._candidate = text

    def load_merge_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        raise MergeConfigException(f"{self.hostname}: pyvtep.yaml is replaced as a whole, not merged: deploy "
                                   "with replace (the default)")

    def _parsed(self, text: str, name: str, error: type[Exception]) -> dict[str, Any]:
        """The candidate as pyvtep's own loader reads it (its running form); a file it refuses is refused."""
        try:
            loaded = config_from_text(text, file=f"{self.hostname} {name}")
        except VxautoError as problem:
            raise error(f"{self.hostname}: pyvtep refuses this configuration: {problem}") from None
        return loaded.model_dump(mode="json")

    def compare_config(self) -> str:
        if self._candidate is None:
            return ""
        current = self._config()
        running_form = self._parsed(self._candidate, "candidate", ReplaceConfigException)
        return self._diff(current, self._candidate, running_form)

    def _diff(self, current: dict[str, Any], text: str, running_form: dict[str, Any]) -> str:
        path = current.get("path") or "pyvtep.yaml"
        lines = list(difflib.unified_diff((current.get("file") or "").splitlines(), text.splitlines(),
                                          f"{self.hostname} {path} (running)", f"{self.hostname} {path} (candidate)",
                                          lineterm=""))
        if not lines and current.get("running") != running_form:
            lines = [f"# {self.hostname}: {path} is the candidate, but pyvtep runs other settings "
                     f"({_differing(running_form, current.get('running'))}): edited without a reload, or waiting "
                     "for a restart; a commit reloads it"]
        return "\n".join(lines) + "\n" if lines else ""

    def discard_config(self) -> None:
        self._candidate = None

    # ------------------------------------------------------------------ commit, rollback

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise CommitError(f"{self.hostname}: no candidate configuration loaded")
        if revert_in is not None:
            raise CommitError(f"{self.hostname}: the pyvtep driver has no commit-confirm (revert_in); commit "
                              "without it and use rollback() to undo")
        text = self._candidate
        wanted = self._parsed(text, "candidate", CommitError)
        current = self._config()
        path = current.get("path")
        if not path:
            raise CommitError(f"{self.hostname}: pyvtep runs without a configuration file (started from "
                              "Python): nothing to write and reload")
        if not self._diff(current, text, wanted):
            self.discard_config()
            return
        point = _timestamp()
        previous = current.get("file") or ""
        saved = f"{self.state_dir}/rollback/{point}"
        meta = json.dumps({"time": point, "message": message, "host": self.hostname, "file": path}) + "\n"
        # the rollback point first, then the candidate: a commit never overwrites a file it has not saved
        self._api().session.put_files({f"{saved}/pyvtep.yaml": previous, f"{saved}/meta.json": meta},
                                      then=f"printf '%s\\n' {point} > {shlex.quote(self.state_dir + '/last')}")
        problem = self._apply(path, text, wanted)
        if problem is not None:
            restored = self._apply(path, previous, None)
            outcome = "restored" if restored is None else f"RESTORE INCOMPLETE: {restored}"
            raise CommitError(f"{self.hostname}: commit {point} failed and was rolled back ({outcome}): {problem}")
        self.discard_config()

    def _apply(self, path: str, text: str, wanted: dict[str, Any] | None) -> str | None:
        """Write `text` to pyvtep's file, reload, and check pyvtep runs it (`wanted`, its running form; None:
        whatever the loader makes of `text`). None when it took, else why not."""
        self._api().session.put_files({path: text})
        try:
            (result,) = self._api().ask({"op": "reload"})
        except CommandErrorException as error:
            return f"pyvtep's reload refused it: {error}"
        restart = list((result or {}).get("needs_restart") or [])
        if restart:
            return (f"{', '.join(restart)} change only when pyvtep restarts (it keeps running the old values): "
                    f"restart pyvtep with the new {Path(path).name}, then deploy again")
        running = self._config().get("running")
        expected = wanted if wanted is not None else self._parsed(text, path, CommitError)
        if running != expected:
            return ("pyvtep does not run the written configuration after the reload (differs in "
                    f"{_differing(expected, running)})")
        return None

    def rollback(self) -> None:
        """Write back the file saved by the last commit and reload it; `CommitError` when there is none or
        pyvtep does not take it."""
        last = self._api().session.run(f"cat {shlex.quote(self.state_dir + '/last')}")
        point = last.stdout.strip()
        if not last.ok or not point:
            raise CommitError(f"{self.hostname}: nothing to roll back (no commit recorded in {self.state_dir})")
        saved = self._api().session.run(f"cat {shlex.quote(f'{self.state_dir}/rollback/{point}/pyvtep.yaml')}")
        if not saved.ok:
            raise CommitError(f"{self.hostname}: rollback point {point} not found in {self.state_dir}/rollback")
        path = self._config().get("path")
        if not path:
            raise CommitError(f"{self.hostname}: pyvtep runs without a configuration file: nothing to restore")
        problem = self._apply(path, saved.stdout, None)
        if problem is not None:
            raise CommitError(f"{self.hostname}: rollback to {point} incomplete: {problem}")

    def has_pending_commit(self) -> bool:
        return False

    def confirm_commit(self) -> None:
        raise CommitConfirmException(f"{self.hostname}: no pending commit to confirm (the pyvtep driver has no "
                                     "commit-confirm)")


def _differing(wanted: dict[str, Any], running: object) -> str:
    """The top-level settings in which pyvtep's running configuration differs from `wanted`."""
    actual = running if isinstance(running, dict) else {}
    return ", ".join(sorted(key for key in set(wanted) | set(actual) if wanted.get(key) != actual.get(key)))


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _optional_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)
