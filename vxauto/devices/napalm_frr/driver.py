"""`FrrDriver`: a NAPALM driver for Linux VTEPs running FRR (and plain Linux VTEPs and hosts).

    driver = napalm.get_network_driver("frr")       # imports the `napalm_frr` shim package
    with driver("172.20.20.21", "root", "", optional_args={
        "key_file": "clab-evpn-frr/id_ed25519", "known_hosts": "clab-evpn-frr/known_hosts",
    }) as device:
        device.load_replace_candidate(filename="out/evpn-frr/leaf1")   # rendered frr.conf + interfaces.sh
        print(device.compare_config())
        device.commit_config(revert_in=60)
        device.confirm_commit()

optional_args:
- `port` (22), `key_file`, `known_hosts` (alias `alt_key_file`; default: the user's ~/.ssh/known_hosts),
  `ssh_config_file`, `conn_timeout` (10 s). Host keys are always checked; there is no switch to skip it.
- `vtysh_pathspace`: FRR pathspace (`vtysh -N NAME`, `frr-reload.py --pathspace NAME`); default none,
  i.e. plain `vtysh`. The netns lab names a node's pathspace after its namespace (`<lab>-<node>`).
- `state_dir` (`/var/lib/vxauto`): where the device keeps rollback points, each commit's private staging
  (`txn/<time>/`), the lock (`.lock`, holder in `lock.owner`), the last change (`serial`), the
  commit-confirm timer and the manifest of links vxauto created. One directory per device; the lab
  passes each node's own directory, since lab nodes share one filesystem.
- `frr`: True/False, or absent for "use FRR if `vtysh` answers".
- `lldpd_socket`: lldpd's control socket, when it is not the default one.
- `frr_reload`: path of frr-reload.py (/usr/lib/frr/frr-reload.py).

Configuration model: see `bundle.py` (format), `kernel_sync.py` (kernel part) and `frr_reload.py` (FRR
part); the shell that runs on the device is built in `device_scripts.py`.
`compare_config()` is a unified diff of both parts; `commit_config()` saves a rollback point (running FRR
configuration and kernel state), applies the kernel part and then the FRR part in one detached shell
transaction on the device (it finishes, or restores the rollback point, even if SSH drops midway),
verifies both parts against the candidate, and on any failure restores the rollback point and raises
`CommitError`. The transaction runs only if it gets the device lock at once and the device is still where
the commit read it; otherwise it changes nothing (no restore either) and raises `CommitError` saying so.
A commit without changes does nothing. `revert_in=S` arms a timer process on the device
that restores the rollback point after S seconds unless `confirm_commit()` stops it first.

A bundle part that is missing is left alone: a bundle without `frr.conf` never touches FRR, one without
a kernel file never touches the kernel.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import shlex
import time
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

from vxauto.devices.napalm_frr import device_scripts as scripts
from vxauto.devices.napalm_frr import frr_reload as frr
from vxauto.devices.napalm_frr import parse_core
from vxauto.devices.napalm_frr.bundle import Bundle
from vxauto.devices.napalm_frr.change import Change, DeviceState, Restored
from vxauto.devices.napalm_frr.device_scripts import DeviceLayout, Transaction
from vxauto.devices.napalm_frr.getters_more import LinuxFrrGetters
from vxauto.devices.napalm_frr.getters_vxlan import FrrVxlanGetters
from vxauto.devices.napalm_frr.kernel_sync import RunningKernel, merged, plan, running_view
from vxauto.devices.napalm_frr.remote import Completed, Session, SshOptions, tail, write_files_script
from vxauto.errors import VxautoError

DEFAULT_STATE_DIR = "/var/lib/vxauto"
TXN_TIMEOUT = 300.0
#: How long a compare_config() reading may be reused by the commit_config() that follows it.
COMPARE_REUSE_SECONDS = 60.0


class FrrDriver(FrrVxlanGetters, LinuxFrrGetters, NetworkDriver):
    """NAPALM driver for Linux/FRR VTEPs (see the module docstring for options and semantics)."""

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
        self.force_no_enable = True
        self.use_canonical_interface = False
        args = dict(optional_args or {})
        self.ssh_options = SshOptions(
            host=hostname,
            username=username,
            password=password or None,
            port=int(args.get("port") or 22),
            timeout=float(timeout),
            key_file=_optional_str(args.get("key_file")),
            known_hosts=_optional_str(args.get("known_hosts") or args.get("alt_key_file")),
            ssh_config_file=_optional_str(args.get("ssh_config_file")),
            conn_timeout=float(args.get("conn_timeout") or 10),
        )
        self.pathspace = _optional_str(args.get("vtysh_pathspace"))
        self.state_dir = str(args.get("state_dir") or DEFAULT_STATE_DIR).rstrip("/")
        self.frr_reload = str(args.get("frr_reload") or frr.FRR_RELOAD)
        self.layout = DeviceLayout(self.state_dir, self.pathspace, self.frr_reload)
        self.lldpd_socket = _optional_str(args.get("lldpd_socket"))
        frr_mode = args.get("frr")
        self.frr_mode: bool | None = None if frr_mode is None else bool(frr_mode)
        self._session: Session | None = None
        self._candidate: Bundle | None = None
        self._merge = False
        self._compared: tuple[float, Change] | None = None

    # ------------------------------------------------------------------ connection

    def open(self) -> None:
        self._session = Session(self.ssh_options)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def is_alive(self) -> models.AliveDict:
        return {"is_alive": bool(self._session is not None and self._session.alive())}

    def _ssh(self) -> Session:
        """The open session (a method, not a property: NAPALM's signature test walks every attribute)."""
        if self._session is None:
            raise ConnectionException(f"{self.hostname}: not connected (call open() first)")
        return self._session

    # ------------------------------------------------------------------ small helpers

    def _path(self, *parts: str) -> str:
        return self.layout.path(*parts)

    def _q(self, *parts: str) -> str:
        return self.layout.quoted(*parts)

    def _vtysh(self, *commands: str) -> str:
        return self.layout.vtysh(*commands)

    def _frr_probe(self, *commands: str) -> str:
        """vtysh, or exit 127 when the device has no vtysh (a plain Linux VTEP or host) or `frr=False`."""
        if self.frr_mode is False:
            return "exit 127"
        return f"if command -v vtysh >/dev/null 2>&1; then {self._vtysh(*commands)}; else exit 127; fi"

    def _frr_answer(self, result: Completed) -> str | None:
        """The output of a `_frr_probe`, or None when FRR is absent (and allowed to be)."""
        if result.ok:
            return result.stdout
        if self.frr_mode:
            raise CommandErrorException(f"{self.hostname}: FRR does not answer: {tail(result.stderr or result.stdout)}")
        return None

    # ------------------------------------------------------------------ getters

    def get_facts(self) -> models.FactsDict:
        results = self._ssh().batch({
            "hostname": "hostname",
            "fqdn": "hostname -f 2>/dev/null || hostname",
            "uptime": "cat /proc/uptime",
            "kernel": "uname -sr",
            "frr": self._frr_probe("show version"),
            "links": "ip -j link show",
            "product": "cat /sys/class/dmi/id/product_name 2>/dev/null || true",
            "serial": "cat /sys/class/dmi/id/product_serial 2>/dev/null || true",
        })
        show_version = self._frr_answer(results["frr"])
        return parse_core.facts(
            results["hostname"].checked(self.hostname).stdout, results["fqdn"].stdout, results["uptime"].stdout,
            results["kernel"].stdout, parse_core.frr_version(show_version) if show_version else None,
            self._json(results["links"]) or [], results["product"].stdout, results["serial"].stdout,
        )

    def get_interfaces(self) -> dict[str, models.InterfaceDict]:
        results = self._ssh().batch({
            "links": "ip -j -d link show",
            "speeds": 'for dev in /sys/class/net/*; do printf "%s %s\\n" "${dev##*/}" '
                      '"$(cat "$dev/speed" 2>/dev/null || echo -1)"; done',
        })
        return parse_core.interfaces(self._json(results["links"]) or [], parse_core.speeds(results["speeds"].stdout))

    def get_interfaces_ip(self) -> dict[str, models.InterfacesIPDict]:
        return parse_core.interfaces_ip(self._json(self._ssh().run("ip -j addr show")) or [])

    def get_bgp_neighbors(self) -> dict[str, models.BGPStateNeighborsPerVRFDict]:
        results = self._ssh().batch({
            "summary": self._frr_probe("show bgp vrf all summary json"),
            "neighbors": self._frr_probe("show bgp vrf all neighbors json"),
        })
        summary, neighbors = (self._frr_answer(results[name]) for name in ("summary", "neighbors"))
        if summary is None:
            return {}  # no FRR, no BGP
        return parse_core.bgp_neighbors(parse_core.decode(summary, f"{self.hostname} bgp summary"),
                                     parse_core.decode(neighbors or "", f"{self.hostname} bgp neighbors"))

    def get_lldp_neighbors(self) -> dict[str, list[models.LLDPNeighborDict]]:
        """LLDP neighbours from lldpd; `{}` when lldpd is not installed or not running (nothing to ask)."""
        socket = f" -u {shlex.quote(self.lldpd_socket)}" if self.lldpd_socket else ""
        result = self._ssh().run(f"command -v lldpctl >/dev/null 2>&1 || exit 127; lldpctl -f json{socket}")
        if not result.ok:
            return {}
        return parse_core.lldp_neighbors(parse_core.decode(result.stdout, f"{self.hostname} lldpctl"))

    def get_mac_address_table(self) -> list[models.MACAdressTable]:
        return parse_core.mac_address_table(self._json(self._ssh().run("bridge -j fdb show")) or [])

    def get_config(
        self,
        retrieve: str = "all",
        full: bool = False,
        sanitized: bool = False,
        format: str = "text",
    ) -> models.ConfigDict:
        """running/startup/candidate as bundle texts (see `bundle.py`).

        running: `show running-config` as `frr.conf` plus the kernel state vxauto manages as
        `kernel.state` (between compare_config() and the commit_config() that reuses its reading, that
        reading: what the commit replaces and its rollback point holds); startup: the FRR configuration
        file (the kernel has none); candidate: the loaded candidate bundle. `full` and `format` other
        than "text" are not supported by this platform.
        """
        if format != "text":
            raise NotImplementedError("the frr driver returns configurations as text bundles only")

        def text(files: dict[str, str], what: str) -> str:
            if sanitized:
                files = {name: _sanitized(content) for name, content in files.items()}
            return Bundle(files, f"{self.hostname} {what}").dumps()

        config: models.ConfigDict = {"running": "", "startup": "", "candidate": ""}
        if retrieve in ("all", "running"):
            state = self._reusable_reading() or self._read_state()
            files = {"kernel.state": running_view(state.running, None, state.manifest, self._keep_out(state)).text()}
            if state.frr_running is not None:
                files["frr.conf"] = frr.running_text(state.frr_running)
            config["running"] = text(files, "running")
        if retrieve in ("all", "startup"):
            startup = f"/etc/frr/{self.pathspace}/frr.conf" if self.pathspace else "/etc/frr/frr.conf"
            result = self._ssh().run(f"cat {shlex.quote(startup)}")
            if result.ok and result.stdout.strip():
                config["startup"] = text({"frr.conf": result.stdout}, "startup")
        if retrieve in ("all", "candidate") and self._candidate is not None:
            config["candidate"] = text(dict(self._candidate.files), "candidate")
        return config

    def _json(self, result: Completed) -> Any:
        return parse_core.decode(result.checked(self.hostname).stdout, f"{self.hostname} `{result.command}`")

    # ------------------------------------------------------------------ reading the device

    def _read_state(
        self, stage: dict[str, str | bytes] | None = None, test_frr: str | None = None,
        first: dict[str, str] | None = None, timeout: float | None = None, last: str | None = None,
    ) -> DeviceState:
        """One round trip: write `stage` files, run `first` (its results land in `DeviceState.first`),
        then read kernel + FRR + bookkeeping, run frr-reload --test on `test_frr`, and finally `last`."""
        commands = {}
        if stage:
            commands["stage"] = write_files_script(stage)
        commands |= first or {}
        commands |= {
            "links": "ip -j -d link show",
            "addresses": "ip -j addr show",
            "fdb": "bridge -j fdb show",
            "manifest": f"cat {self._q('applied.json')} 2>/dev/null || true",
            "pending": f"cat {self._q('pending', 'commit.json')} 2>/dev/null || true",
            "serial": f"cat {self._q('serial')} 2>/dev/null || true",
            "frr": self._frr_probe("show running-config"),
        }
        if test_frr is not None:
            commands["test"] = self.layout.reload(test_frr, "test")
        if last:
            commands["last"] = last
        results = self._ssh().batch(commands, timeout=timeout)
        if stage:
            results["stage"].checked(self.hostname)
        running = RunningKernel.from_json(self._json(results["links"]) or [], self._json(results["addresses"]) or [],
                                          self._json(results["fdb"]) or [], self.hostname)
        manifest_doc = parse_core.decode(results["manifest"].stdout, f"{self.hostname} {self._path('applied.json')}")
        pending = parse_core.decode(results["pending"].stdout, f"{self.hostname} pending commit")
        frr_running = self._frr_answer(results["frr"])
        delta = None
        if test_frr is not None and frr_running is not None:
            test = results["test"]
            if not test.ok:
                raise VxautoError.single(f"{self.hostname} frr.conf", "", "FRR rejects the candidate "
                                         f"(frr-reload.py --test): {_plain(tail(test.stderr or test.stdout))}")
            delta = frr.parse_reload_test(test.stdout)
        return DeviceState(running, frr_running, delta, list((manifest_doc or {}).get("owned", [])), pending,
                           results["serial"].stdout.strip(), {name: results[name] for name in first or {}})

    def _keep_out(self, state: DeviceState) -> set[str]:
        """Links holding the address this session is logged in through: never part of a backup."""
        try:
            address = ipaddress.ip_address(self.hostname)
        except ValueError:
            return set()
        return {name for name, link in state.running.links.items()
                if any(ipaddress.ip_interface(prefix).ip == address for prefix in link.addresses)}

    def _change(self, bundle: Bundle, merge: bool, frr_file: str | None = None) -> Change:
        """Stage the FRR part, read the device, and compute what applying `bundle` does.

        The FRR part is staged at `frr_file`, or (None) at a path of this call's own that is removed in
        the same round trip: concurrent dry runs and commits never test or apply each other's files.
        """
        frr_text = frr.normalise_candidate(bundle.frr_config) if bundle.frr_config is not None else None
        staged = frr_file or self._path("stage", f"{_timestamp()}-{secrets.token_hex(4)}.conf")
        stage: dict[str, str | bytes] = {staged: frr_text} if frr_text is not None else {}
        last = f"rm -f {shlex.quote(staged)}" if frr_file is None and frr_text is not None else None
        state = self._read_state(stage, test_frr=staged if frr_text is not None else None, last=last)
        return self._change_from(bundle, merge, state)

    def _change_from(self, bundle: Bundle, merge: bool, state: DeviceState) -> Change:
        """What applying `bundle` to the device in `state` does (its FRR part tested in that reading)."""
        frr_text = bundle.frr_config
        if frr_text is not None and state.frr_running is None:
            raise VxautoError.single(f"{self.hostname} frr.conf", "", "the configuration has an FRR part but FRR "
                                     "does not answer on the device (vtysh)")
        view = target = None
        commands: list[str] = []
        if bundle.has_kernel:
            candidate = bundle.kernel()
            view = running_view(state.running, candidate, state.manifest, self._keep_out(state))
            target = merged(view, candidate) if merge else candidate
            commands = plan(view, target, self.hostname)
        delta = state.frr_delta
        if delta is not None and merge:
            delta = delta.only_additions()
        return Change(state, view, target, commands, delta,
                      frr.normalise_candidate(frr_text) if frr_text is not None else None)

    # ------------------------------------------------------------------ candidate

    def load_replace_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        self._load(filename, config, merge=False, error=ReplaceConfigException)

    def load_merge_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        self._load(filename, config, merge=True, error=MergeConfigException)

    def _load(self, filename: str | None, config: str | None, merge: bool, error: type[Exception]) -> None:
        if (filename is None) == (config is None):
            raise error("give exactly one of filename= or config=")
        try:
            bundle = Bundle.from_path(Path(filename)) if filename is not None else Bundle.loads(config or "")
            bundle.kernel()  # parse now: a candidate the driver cannot model is refused at load time
        except VxautoError as problem:
            raise error(f"{self.hostname}: {problem}") from None
        self._candidate, self._merge, self._compared = bundle, merge, None

    def compare_config(self) -> str:
        if self._candidate is None:
            return ""
        change = self._compare(self._candidate, self._merge)
        # commit_config right after this reuses the reading (one device round trip and one
        # frr-reload run less); whatever changed meanwhile, the post-commit verification catches
        self._compared = (time.monotonic(), change)
        return change.diff(self.hostname)

    def _compare(self, bundle: Bundle, merge: bool) -> Change:
        error = MergeConfigException if merge else ReplaceConfigException
        try:
            return self._change(bundle, merge)
        except VxautoError as problem:
            raise error(f"{self.hostname}: {problem}") from None

    def discard_config(self) -> None:
        self._candidate = None
        self._merge = False
        self._compared = None

    # ------------------------------------------------------------------ commit

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise CommitError(f"{self.hostname}: no candidate configuration loaded")
        if revert_in is not None and int(revert_in) <= 0:
            raise CommitError(f"{self.hostname}: revert_in must be a positive number of seconds")
        change = self._fresh_comparison()
        if change.state.pending is not None:
            raise CommitError(f"{self.hostname}: a commit-confirm is pending; confirm_commit() or rollback() first")
        if change.empty:
            self.discard_config()  # nothing to do: no rollback point, no timer
            return
        point = _timestamp()
        # a lost connection raises from here: the transaction on the device finishes or restores itself
        txn = self._transaction(point, change, message, revert_in)
        status, _, detail = txn.stdout.strip().partition("\n")
        if status in ("locked", "stale"):
            self._ssh().run(f"rm -rf {self._q('txn', point)}")
            raise CommitError(self._refusal(status, detail.strip()))
        problem = None
        try:
            if status != "applied":
                problem = f"applying failed ({status or 'no status'}): {_plain(tail(txn.stderr, 6))}"
            else:
                after = self._read_state(test_frr=self._path("txn", point, "frr.conf") if change.frr_text else None,
                                         last=f"rm -rf {self._q('txn', point)}")
                verified = self._change_from(self._candidate, self._merge, after)
                if not verified.empty:
                    problem = ("the device does not show the candidate after applying it:\n"
                               f"{verified.diff(self.hostname)}")
        except VxautoError as error:
            problem = f"cannot read the device back: {error}"
        if problem is not None:
            if revert_in is not None and self._claim_pending("failed.json") is not None:
                self._stop_timer()
            restored = self._restore(point)
            self._ssh().run(f"rm -rf {self._q('txn', point)}")  # its log is in the message below
            outcome = "restored" if restored else f"RESTORE INCOMPLETE: {restored.problem}"
            raise CommitError(f"{self.hostname}: commit {point} failed and was rolled back ({outcome}): {problem}")
        if revert_in is not None:
            self._exact_revert(point, after)
        self.discard_config()

    def _refusal(self, status: str, detail: str) -> str:
        """Why the device refused to run this commit at all (it changed nothing)."""
        if status == "locked":
            holder = detail or "a vxauto change whose owner is not recorded yet"
            return (f"{self.hostname}: another commit holds the lock on {self.hostname} ({holder}); "
                    "nothing was changed")
        return (f"{self.hostname}: another commit changed {self.hostname} after this one read it "
                f"(now at {detail or 'an unrecorded change'}); nothing was changed: compare again, then commit")

    def _fresh_comparison(self) -> Change:
        if self._compared is not None and time.monotonic() - self._compared[0] < COMPARE_REUSE_SECONDS:
            return self._compared[1]
        return self._compare(self._candidate, self._merge)  # type: ignore[arg-type]

    def _reusable_reading(self) -> DeviceState | None:
        """The compare_config() reading while commit_config() may still reuse it: a backup of the running
        configuration taken between the two then holds exactly the state the commit replaces (the commit
        refuses if the device was changed since that reading), for one device round trip less."""
        if self._compared is not None and time.monotonic() - self._compared[0] < COMPARE_REUSE_SECONDS:
            return self._compared[1].state
        return None

    def _transaction(self, point: str, change: Change, message: str, revert_in: int | None) -> Completed:
        """One round trip: write the commit's private staging directory `txn/<point>/`, run its txn.sh
        detached (setsid) under the device lock, and print the status (first line) and log (stderr).

        Everything the commit applies is staged privately, and only txn.sh under the lock moves it into
        place (the rollback point, the manifest, the commit-confirm timer), so a commit that does not get
        the lock, or finds the device changed since it compared (`serial`), changes nothing. The
        transaction applies the kernel part, then the FRR part, and restores the rollback point by itself
        if a step fails, so losing the SSH session midway never leaves the device half-applied.
        """
        txn = self._path("txn", point)
        files: dict[str, str | bytes] = {
            f"{txn}/rollback/meta.json": json.dumps({"time": point, "message": message, "host": self.hostname}) + "\n",
        }
        restore: list[str] = []
        if change.view is not None and change.target is not None:
            files[f"{txn}/rollback/kernel.state"] = change.view.text()
            # planned from the candidate back to the saved view; every step runs even if one fails
            restore = plan(change.target, change.view, self.hostname, strict=False)
            owned = set(change.target.created()) | (set(change.state.manifest) if self._merge else set())
            files[f"{txn}/applied.json"] = json.dumps({"owned": sorted(owned)}) + "\n"
        managing_frr = change.frr_delta is not None and change.frr_text is not None
        if managing_frr:
            files[f"{txn}/frr.conf"] = change.frr_text or ""
            if change.state.frr_running is not None:
                files[f"{txn}/rollback/frr.conf"] = frr.running_text(change.state.frr_running)
        files[f"{txn}/rollback/restore.sh"] = scripts.restore_script(
            self.layout, point, restore, self._path("rollback", point, "frr.conf") if managing_frr else None)
        files[f"{txn}/apply.sh"] = scripts.script(f"vxauto commit {point}: kernel part", change.commands)
        if revert_in is not None:
            files[f"{txn}/timer.sh"] = scripts.timer_script(self.layout, point, int(revert_in))
            files[f"{txn}/pending.json"] = scripts.pending_record(point, int(revert_in))
        files[f"{txn}/txn.sh"] = scripts.txn_script(self.layout, Transaction(
            point, change.state.serial, message, managing_frr, self._merge, change.target is not None,
            revert_in is not None))
        # put_files runs this under `set -e`: every failure here is caught
        return self._ssh().put_files(files, then=scripts.txn_run(self.layout, point), timeout=TXN_TIMEOUT)

    # ------------------------------------------------------------------ restore, rollback, confirm

    def _restore(self, point: str) -> Restored:
        """Bring the device back to rollback point `point`, planned from a fresh read (not the script)."""
        listing = self._ssh().batch({
            "kernel": f"cat {self._q('rollback', point, 'kernel.state')}",
            "frr": f"cat {self._q('rollback', point, 'frr.conf')}",
        })
        if not listing["kernel"].ok and not listing["frr"].ok:
            return Restored(f"rollback point {point} not found in {self._path('rollback')}")
        files: dict[str, str] = {}
        if listing["kernel"].ok:
            files["kernel.state"] = listing["kernel"].stdout
        if listing["frr"].ok:
            files["frr.conf"] = listing["frr"].stdout
        return self._converge(Bundle(files, f"{self.hostname} rollback point {point}"))

    def _converge(self, bundle: Bundle) -> Restored:
        """Replace-apply `bundle` without a rollback point of its own; the result says if it took."""
        name = f"restore-{_timestamp()}"
        frr_file = self._path("txn", name, "frr.conf")  # this restore's own staging, removed at its end
        try:
            change = self._change(bundle, merge=False, frr_file=frr_file)
        except (VxautoError, ConnectionException) as problem:
            return Restored(str(problem))
        script = self._path("txn", name, "apply.sh")
        text = scripts.converge_script(self.layout, name, change.commands,
                                       frr_file if change.frr_delta is not None else None)
        run = self._ssh().put_files({script: text}, then=scripts.converge_run(self.layout, name, script),
                                    timeout=TXN_TIMEOUT)
        self._ssh().run(f"rm -rf {self._q('txn', name)}")
        after = self._change(bundle, merge=False)
        if not after.empty:
            return Restored(f"still differs: {after.diff(self.hostname)} ({_plain(tail(run.stdout, 4))})")
        if bundle.has_kernel:
            owned = sorted(bundle.kernel().created())
            self._ssh().put_files({self._path("applied.json"): json.dumps({"owned": owned}) + "\n"})
        return Restored()

    def _exact_revert(self, point: str, state: DeviceState) -> None:
        """Replace the timer's best-effort restore script with one planned from the verified reading."""
        saved = self._ssh().batch({
            "kernel": f"cat {self._q('rollback', point, 'kernel.state')}",
            "frr": f"test -f {self._q('rollback', point, 'frr.conf')}",
        })
        commands: list[str] = []
        if saved["kernel"].ok:
            snapshot = Bundle({"kernel.state": saved["kernel"].stdout}, "rollback point").kernel()
            view = running_view(state.running, snapshot, state.manifest, self._keep_out(state))
            commands = plan(view, snapshot, self.hostname)
        frr_file = self._path("rollback", point, "frr.conf") if saved["frr"].ok else None
        self._ssh().put_files({self._path("rollback", point, "restore.sh"):
                               scripts.restore_script(self.layout, point, commands, frr_file)})

    def has_pending_commit(self) -> bool:
        return self._ssh().run(f"test -f {self._q('pending', 'commit.json')}").ok

    def confirm_commit(self) -> None:
        record = self._claim_pending("confirmed.json")
        if record is None:
            raise CommitConfirmException(f"{self.hostname}: no pending commit to confirm (none was made, "
                                         "or its revert timer already rolled it back)")
        self._stop_timer()

    def _claim_pending(self, new_name: str) -> dict[str, Any] | None:
        """Atomically take the pending commit away from the timer (`mv`); None if there is none."""
        result = self._ssh().run(
            f"mv {self._q('pending', 'commit.json')} {self._q('pending', new_name)} && "
            f"cat {self._q('pending', new_name)}"
        )
        if not result.ok:
            return None
        return parse_core.decode(result.stdout, f"{self.hostname} pending commit") or {}

    def _stop_timer(self) -> None:
        """Stop the commit-confirm timer, if it still runs, and wait until it is gone."""
        self._ssh().run(scripts.stop_timer_command(self.layout))

    def rollback(self) -> None:
        """Undo the last commit: a pending commit-confirm is cancelled and restored, else the last
        rollback point is restored. Raises `CommitError` if the device cannot be brought back."""
        record = self._claim_pending("rolled-back.json")
        if record is not None:
            self._stop_timer()
            point = str(record.get("point", ""))
        else:
            result = self._ssh().run(f"cat {self._q('last')}")
            point = result.stdout.strip()
            if not result.ok or not point:
                raise CommitError(f"{self.hostname}: nothing to roll back (no commit recorded in {self.state_dir})")
        restored = self._restore(point)
        if not restored:
            raise CommitError(f"{self.hostname}: rollback to {point} incomplete: {restored.problem}")


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _optional_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _plain(text: str) -> str:
    """Without the ANSI colour codes frr-reload puts around ERROR."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _sanitized(text: str) -> str:
    """Mask secrets FRR keeps in its configuration (BGP/OSPF passwords, keys)."""
    return re.sub(r"(\b(?:password|key-string|authentication-key|message-digest-key \d+ md5)\s+)\S+",
                  r"\1<removed>", text)

