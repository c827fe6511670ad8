"""Benchmark: EVPN MAC churn through Debian's gobgpd 3.10, one gobgpd against pyvtep's MAC speakers.

What pyvtep's EVPN churn costs is gobgpd's: gobgpd 3.10 scans its whole EVPN table for every MAC route added
or withdrawn through its API (MAC mobility fix-up in BgpServer.fixupApiPath), so one gobgpd takes time that
grows with the square of its table. pyvtep's `evpn.mac_speakers: K` spreads the type-2 routes over K more
gobgpd processes that hand them to the front gobgpd over iBGP (routes received over BGP are not scanned).

Per setup (`--speakers 0,8`: 0 is the single gobgpd, the reference): `--macs` type-2 routes are added, then
three quarters of them withdrawn, through AddPathStream in batches of 500 (as pyvtep's Advertiser sends them,
each MAC to the speaker pyvtep's hash picks), with the gobgpd configs pyvtep itself writes. Each phase is
timed until a receiving gobgpd, peered over eBGP with the front in place of FRR, holds exactly the routes it
should in its Adj-RIB-In (it refuses them on import, so that its own per-route scan does not count); at the
end the receiver's routes are compared one by one (MACs and next hop = the VTEP address).

    .venv/bin/python bench/evpn_churn.py [--json] [--macs 10000] [--speakers 0,8]

Runs in the root namespace on loopback (127.0.0.1, 127.0.1.<n>, 127.0.2.1; BGP ports 11790/11791, gRPC
52600+): no network namespaces, so no lab lock. Every gobgpd is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from vxauto.vtep import gobgp
from vxauto.vtep.config import EvpnConfig
from vxauto.vtep.evpn import BATCH, gobgpd_config, mac_speaker_config, mac_speaker_index
from vxauto.vtep.gobgpapi import gobgp_pb2 as api
from vxauto.vtep.gobgpapi import gobgp_pb2_grpc as api_grpc

VTEP, VNI, RT = "10.0.0.1", 3001, "65001:3001"
FRONT_PORT, SINK_PORT, SINK_IP = 11790, 11791, "127.0.2.1"
API_BASE, SINK_API = 52600, 52699
DEADLINE = 900.0


def mac(i: int) -> str:
    return "02:cc:" + ":".join(f"{b:02x}" for b in i.to_bytes(4, "big"))


def _front_config(speakers: int) -> str:
    config = EvpnConfig.model_validate({
        "asn": 65001, "neighbors": [{"address": SINK_IP, "asn": 65002}], "bgp_port": FRONT_PORT,
        "api_port": API_BASE, "mac_speakers": speakers})
    text = gobgpd_config(config, VTEP, VTEP)
    # In the root namespace the receiver listens on its own port and address.
    return text.replace("    peer-as = 65002\n", "    peer-as = 65002\n  [neighbors.transport.config]\n"
                        f'    local-address = "127.0.0.1"\n    remote-port = {SINK_PORT}\n', 1)


def _sink_config() -> str:
    return "\n".join([
        "[global.config]", "  as = 65002", f'  router-id = "{SINK_IP}"', f"  port = {SINK_PORT}",
        f'  local-address-list = ["{SINK_IP}"]', "",
        # FRR's stand-in must not be slow itself: gobgpd 3.10 would visit its whole EVPN table for every MAC
        # route it takes in (handleMacMobility). Refused on import, a route stays in the Adj-RIB-In, where
        # it is counted and compared, and reaches the global table as a withdrawal, which is not scanned.
        "[global.apply-policy.config]", '  default-import-policy = "reject-route"', "", "[[neighbors]]",
        "  [neighbors.config]",
        '    neighbor-address = "127.0.0.1"', "    peer-as = 65001", "  [neighbors.transport.config]",
        "    passive-mode = true", "  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
        '      afi-safi-name = "l2vpn-evpn"', ""])


def _stub(port: int) -> api_grpc.GobgpApiStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", -1),
                                                                  ("grpc.max_send_message_length", -1)])
    stub = api_grpc.GobgpApiStub(channel)
    grpc.channel_ready_future(channel).result(timeout=30)
    return stub


@contextlib.contextmanager
def _daemons(speakers: int, workdir: Path) -> Iterator[tuple[list[api_grpc.GobgpApiStub], api_grpc.GobgpApiStub]]:
    """The front gobgpd, `speakers` MAC speakers and the receiver; yields (senders, receiver)."""
    configs = [(API_BASE, _front_config(speakers)), (SINK_API, _sink_config())]
    config = EvpnConfig.model_validate({"asn": 65001, "neighbors": [{"address": SINK_IP, "asn": 65002}],
                                        "bgp_port": FRONT_PORT, "mac_speakers": speakers})
    configs += [(API_BASE + i, mac_speaker_config(config, i)) for i in range(1, speakers + 1)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port, text in configs:
            path = workdir / f"gobgpd-{port}.toml"
            path.write_text(text)
            with (workdir / f"gobgpd-{port}.log").open("wb") as log:
                processes.append(subprocess.Popen(["gobgpd", "-f", str(path), f"--api-hosts=127.0.0.1:{port}",
                                                   "-l", "warn"], stdout=log, stderr=subprocess.STDOUT))
        front, sink = _stub(API_BASE), _stub(SINK_API)
        senders = [_stub(API_BASE + i) for i in range(1, speakers + 1)] or [front]
        peers_up = [front, *(senders if speakers else [])]
        deadline = time.monotonic() + 60
        while not all(_established(stub) for stub in peers_up):  # BGP sessions up: the daemons' own state
            if time.monotonic() > deadline:
                raise RuntimeError(f"BGP sessions did not come up (logs in {workdir})")
            time.sleep(0.2)
        yield senders, sink
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _established(stub: api_grpc.GobgpApiStub) -> bool:
    peers = [reply.peer for reply in stub.ListPeer(api.ListPeerRequest(), timeout=10)]
    return bool(peers) and all(p.state.session_state == api.PeerState.ESTABLISHED for p in peers)


def _push(stub: api_grpc.GobgpApiStub, paths: list[api.Path]) -> None:
    for first in range(0, len(paths), BATCH):
        stub.AddPathStream(iter([api.AddPathStreamRequest(table_type=api.TableType.GLOBAL,
                                                          paths=paths[first:first + BATCH])]), timeout=DEADLINE)


def _count(sink: api_grpc.GobgpApiStub) -> int:
    return sink.GetTable(api.GetTableRequest(table_type=api.TableType.ADJ_IN, name="127.0.0.1",
                                             family=gobgp.EVPN_FAMILY), timeout=30).num_destination


def _phase(senders: list[api_grpc.GobgpApiStub], sink: api_grpc.GobgpApiStub,
           per_sender: list[list[api.Path]], expected: int) -> tuple[float, float]:
    """Send each speaker its paths (side by side, as pyvtep's advertiser threads do); seconds until every
    speaker acknowledged them, and until the receiver holds `expected` routes."""
    started = time.monotonic()
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            _push(senders[index], per_sender[index])
        except BaseException as exc:  # reported below, after the other threads
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(senders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    acknowledged = time.monotonic() - started
    while _count(sink) != expected:
        if time.monotonic() - started > DEADLINE:
            raise RuntimeError(f"the receiver has {_count(sink)} routes, not {expected}")
        time.sleep(0.05)
    return acknowledged, time.monotonic() - started


def _received(sink: api_grpc.GobgpApiStub) -> set[tuple[str, str | None]]:
    replies = sink.ListPath(api.ListPathRequest(table_type=api.TableType.ADJ_IN, name="127.0.0.1",
                                                family=gobgp.EVPN_FAMILY), timeout=60)
    events = (gobgp.route_event(path) for reply in replies for path in reply.destination.paths)
    return {(event.mac.hex(":"), event.remote) for event in events if event is not None and event.mac}


def run(macs: int, speakers: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="evpn-churn-"))
    try:
        with _daemons(speakers, workdir) as (senders, sink):
            def spread(paths: list[tuple[int, api.Path]]) -> list[list[api.Path]]:
                per: list[list[api.Path]] = [[] for _ in senders]
                for i, path in paths:
                    index = mac_speaker_index(VNI, bytes.fromhex(mac(i).replace(":", "")), speakers) if speakers else 0
                    per[index].append(path)
                return per

            adds = [(i, gobgp.mac_path(VTEP, 1, VTEP, VNI, RT, mac(i))) for i in range(macs)]
            withdrawals = []
            for i, path in adds[: macs * 3 // 4]:
                withdrawal = api.Path()
                withdrawal.CopyFrom(path)
                withdrawal.is_withdraw = True
                withdrawals.append((i, withdrawal))
            learn_acked, learned = _phase(senders, sink, spread(adds), macs)
            withdraw_acked, withdrawn = _phase(senders, sink, spread(withdrawals), macs - len(withdrawals))
            expected = {(mac(i), VTEP) for i in range(macs * 3 // 4, macs)}
            got = _received(sink)
            return {"mac_speakers": speakers, "macs": macs, "learn_s": round(learned, 2),
                    "withdraw_s": round(withdrawn, 2),
                    "learn_acknowledged_s": round(learn_acked, 2), "withdraw_acknowledged_s": round(withdraw_acked, 2),
                    "total_s": round(learned + withdrawn, 2),
                    "exact": got == expected, "missing": len(expected - got), "stale": len(got - expected)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macs", type=int, default=10_000)
    parser.add_argument("--speakers", default="0,8", help="comma-separated mac_speakers values; 0 = one gobgpd")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("gobgpd") is None:
        print("evpn_churn: gobgpd not installed (Debian package gobgpd)", file=sys.stderr)
        return 2
    results = [run(args.macs, int(k)) for k in args.speakers.split(",")]
    reference = results[0]["total_s"]
    load = os.getloadavg()
    for result in results:
        result["speedup_vs_first"] = round(float(reference) / max(float(result["total_s"]), 1e-6), 1)  # type: ignore[arg-type]
    report = {"results": results, "loadavg": [round(x, 2) for x in load],
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in results:
            print(f"mac_speakers={r['mac_speakers']:>2}: {r['macs']} learned in {r['learn_s']} s, 3/4 withdrawn in "
                  f"{r['withdraw_s']} s (acknowledged by the speakers after {r['learn_acknowledged_s']} / "
                  f"{r['withdraw_acknowledged_s']} s), total {r['total_s']} s (x{r['speedup_vs_first']} vs the first), "
                  f"receiver exact: {r['exact']} (missing {r['missing']}, stale {r['stale']})")
        print(f"load average {report['loadavg']}, {report['date']}")
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
