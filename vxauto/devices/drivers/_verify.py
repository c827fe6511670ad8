"""Transport verification of the vendor drivers: on by default, off only by an explicit, loud opt-out.

NAPALM's own defaults trust any peer: the EOS driver (pyeapi) builds an unverified TLS context, the NX-API
driver passes `ssl_verify=False` to requests, and the Junos driver lets PyEZ connect with
`hostkey_verify=False`. vxauto's subclasses turn each check on. `optional_args: {insecure_skip_verify:
true}` on one host turns it off for that host only and warns every time such a driver is built, since
then anyone on the path can pose as the device and read its credentials.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from napalm.base.exceptions import ConnectionException

OPT_OUT = "insecure_skip_verify"


class InsecureTransportWarning(UserWarning):
    """A vendor driver was told not to verify the device's identity (host key or certificate)."""


def verified_args(optional_args: dict[str, Any] | None, host: str, what: str) -> tuple[dict[str, Any], bool]:
    """The opening of every vendor driver: a copy of `optional_args` without the opt-out (NAPALM would
    pass it on), and whether this host opted out of verifying its `what` (warned when it did)."""
    args = dict(optional_args or {})
    return args, skip_verify(args, host, what)


@contextmanager
def certificate_trusted(host: str, what: str, where: str, fix: str,
                        errors: tuple[type[BaseException], ...] = (ConnectionException,)) -> Iterator[None]:
    """Around a driver's `open()`: a failed certificate check becomes one ConnectionException naming the
    host, the reason and the fix; every other connection error passes unchanged."""
    try:
        yield
    except errors as error:
        reason = untrusted_certificate(error)
        if reason is None:
            raise
        raise ConnectionException(f"{host}: the {what} TLS certificate of {where} is not trusted ({reason}): "
                                  f"{fix}") from None


def skip_verify(optional_args: dict[str, Any], host: str, what: str) -> bool:
    """Take the opt-out out of `optional_args` (NAPALM would pass it on); warn when it is set."""
    value = optional_args.pop(OPT_OUT, False)
    if value not in (True, False):
        raise ValueError(f"{host}: optional_args.{OPT_OUT} must be true or false (got {value!r})")
    if value:
        warn_insecure(host, what, f"{OPT_OUT}: true")
    return bool(value)


def warn_insecure(host: str, what: str, why: str) -> None:
    warnings.warn(f"INSECURE: {host}: the {what} is NOT verified ({why}); anyone on the path can pose as this "
                  "device and read its login. Remove the option once the device's key or certificate is "
                  "trusted.", InsecureTransportWarning, stacklevel=3)


def untrusted_certificate(error: BaseException) -> str | None:
    """The certificate check's own reason if it is what failed anywhere in `error`'s chain, else None.

    Libraries wrap it several times (requests -> urllib3 -> ssl; pyeapi -> ssl); the text survives."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current)
        current = current.__cause__ or current.__context__
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip() or "not trusted"
    return None
