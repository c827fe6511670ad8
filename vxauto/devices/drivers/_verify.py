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
from typing import Any

OPT_OUT = "insecure_skip_verify"


class InsecureTransportWarning(UserWarning):
    """A vendor driver was told not to verify the device's identity (host key or certificate)."""


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
