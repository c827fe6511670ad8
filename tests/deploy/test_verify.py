"""Vendor drivers verify the device by default: EOS eAPI and NX-API check the TLS certificate against a
real HTTPS server on 127.0.0.1 (a certificate made for the test), Junos asks ncclient for host-key checks.
`insecure_skip_verify: true` turns the check off for one host, with a warning.

The server answers every request with HTTP 500 and no body: these tests are about whether the TLS
handshake is allowed to complete (the server counts the requests that got through), not about device
replies, so no vendor output is involved.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from napalm.base.exceptions import ConnectionException

from vxauto.devices.drivers import VxautoEOSDriver, VxautoJunOSDriver, VxautoNXOSDriver
from vxauto.devices.drivers._verify import InsecureTransportWarning
from vxauto.devices.registry import driver_class


@dataclass
class TlsServer:
    port: int
    certificate: Path
    requests: list[str]


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(certificate)], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    server.seen = []  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TlsServer(server.server_address[1], certificate, server.seen)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def open_quietly(driver: Any) -> str:
    """open() the driver; the error text (every case here fails: no device answers)."""
    with pytest.raises(Exception) as caught:
        driver.open()
    return str(caught.value)


def test_deploy_opens_vxauto_classes_for_vendor_platforms() -> None:
    assert driver_class("eos") is VxautoEOSDriver
    assert driver_class("nxos") is VxautoNXOSDriver
    assert driver_class("junos") is VxautoJunOSDriver


def test_eos_checks_the_certificate(tls_server: TlsServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureTransportWarning)  # no warning without the opt-out
        driver = VxautoEOSDriver("127.0.0.1", "admin", "secret", timeout=5, optional_args={"port": tls_server.port})
    error = open_quietly(driver)
    assert error == (f"127.0.0.1: the eAPI TLS certificate of 127.0.0.1:{tls_server.port} is not trusted "
                     "(self-signed certificate): set ca_file to the CA that signed it"), error
    assert tls_server.requests == []  # the login never left the client
    trusting = VxautoEOSDriver("127.0.0.1", "admin", "secret", timeout=5,
                               optional_args={"port": tls_server.port, "ca_file": str(tls_server.certificate)})
    open_quietly(trusting)  # positive control: the same server, its certificate trusted
    assert tls_server.requests == ["/command-api"]


def test_eos_opt_out_warns_and_skips_the_check(tls_server: TlsServer) -> None:
    with pytest.warns(InsecureTransportWarning, match=r"INSECURE: 127\.0\.0\.1: the eAPI TLS certificate is NOT "
                      r"verified \(insecure_skip_verify: true\)"):
        driver = VxautoEOSDriver("127.0.0.1", "admin", "secret", timeout=5,
                                 optional_args={"port": tls_server.port, "insecure_skip_verify": True})
    open_quietly(driver)
    assert tls_server.requests == ["/command-api"]


def test_eos_plain_http_needs_the_opt_out() -> None:
    with pytest.raises(ConnectionException, match="plain HTTP"):
        VxautoEOSDriver("127.0.0.1", "admin", "secret", optional_args={"transport": "http"})


def test_nxapi_checks_the_certificate(tls_server: TlsServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureTransportWarning)
        driver = VxautoNXOSDriver("127.0.0.1", "admin", "secret", timeout=5, optional_args={"port": tls_server.port})
    assert driver.ssl_verify is True
    error = open_quietly(driver)
    assert error == (f"127.0.0.1: the NX-API TLS certificate of 127.0.0.1:{tls_server.port} is not trusted "
                     "(self-signed certificate): set ssl_verify to the CA bundle that signed it"), error
    assert tls_server.requests == []
    trusting = VxautoNXOSDriver("127.0.0.1", "admin", "secret", timeout=5,
                                optional_args={"port": tls_server.port, "ssl_verify": str(tls_server.certificate)})
    open_quietly(trusting)  # positive control
    assert tls_server.requests == ["/ins"]


@pytest.mark.parametrize("opt_out", [{"insecure_skip_verify": True}, {"ssl_verify": False}])
def test_nxapi_opt_out_warns_and_skips_the_check(tls_server: TlsServer, opt_out: dict[str, bool]) -> None:
    with pytest.warns(InsecureTransportWarning, match="NX-API TLS certificate is NOT verified"):
        driver = VxautoNXOSDriver("127.0.0.1", "admin", "secret", timeout=5,
                                  optional_args={"port": tls_server.port, **opt_out})
    open_quietly(driver)
    assert tls_server.requests == ["/ins"]


class RecordedError(Exception):
    pass


@pytest.mark.parametrize(("optional_args", "verify"), [({}, True), ({"insecure_skip_verify": True}, False)])
def test_junos_asks_ncclient_to_check_host_keys(
    monkeypatch: pytest.MonkeyPatch, optional_args: dict[str, bool], verify: bool
) -> None:
    import jnpr.junos.device
    from jnpr.junos.exception import ConnectError

    seen: dict[str, Any] = {}

    def connect(**kwargs: Any) -> None:  # what PyEZ hands ncclient's SSH transport
        seen.update(kwargs)
        raise RecordedError

    monkeypatch.setattr(jnpr.junos.device.netconf_ssh, "connect", connect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        driver = VxautoJunOSDriver("127.0.0.1", "admin", "secret", optional_args=dict(optional_args))
    assert [w.category for w in caught] == ([] if verify else [InsecureTransportWarning])
    with pytest.raises(ConnectError):  # PyEZ wraps what the transport raised
        driver.device.open()
    assert seen["hostkey_verify"] is verify


def test_a_bad_opt_out_value_is_refused() -> None:
    with pytest.raises(ValueError, match="insecure_skip_verify must be true or false"):
        VxautoNXOSDriver("127.0.0.1", "admin", "secret", optional_args={"insecure_skip_verify": "yes"})
