"""SSH material of a lab: one login key, one host key per node, known_hosts, sshd and ssh configs.

Keys are generated in-process (Ed25519 through `cryptography`, which Paramiko already depends on): a lab of
64 nodes gets its keys in milliseconds instead of 64 `ssh-keygen` runs. Clients check host keys against
the lab's own known_hosts; nothing here ever turns host key checking off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LOGIN_USER = "root"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    def public_line(self) -> str:
        return self.public.read_text(encoding="utf-8").strip()

    def public_key(self) -> str:
        """`ssh-ed25519 AAAA...` without the comment."""
        return " ".join(self.public_line().split()[:2])


def ensure_keypair(private: Path, comment: str) -> KeyPair:
    """Create an Ed25519 key pair in OpenSSH format unless it exists (a repeated `up` keeps its keys)."""
    public = private.with_name(private.name + ".pub")
    if private.is_file() and public.is_file():
        return KeyPair(private, public)
    private.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    openssh_public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public.write_text(f"{openssh_public.decode()} {comment}\n", encoding="utf-8")
    return KeyPair(private, public)


def known_hosts_text(entries: list[tuple[list[str], str]]) -> str:
    """known_hosts lines: `name1,name2,ip key-type key` per node."""
    return "".join(f"{','.join(names)} {key}\n" for names, key in entries)


def sshd_config_text(
    listen: str, host_key: Path, authorized_keys: Path, pid_file: Path
) -> str:
    """A per-node sshd: key login for root only, on the node's management address."""
    return (
        "# vxauto lab node sshd (generated; removed by `vxauto lab down`)\n"
        f"ListenAddress {listen}\n"
        "Port 22\n"
        f"HostKey {host_key}\n"
        f"PidFile {pid_file}\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        # The lab directory may live under a 0700 tmp directory owned by root: sshd's ownership check of
        # the key path would refuse it although only root reads it.
        "StrictModes no\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        # Ansible and many parallel Netmiko sessions open connections in bursts.
        "MaxStartups 100:30:200\n"
        "MaxSessions 50\n"
        "LoginGraceTime 30\n"
        "Subsystem sftp internal-sftp\n"
        "AcceptEnv LANG LC_*\n"
    )


def ssh_config_text(hosts: list[tuple[str, str, str]], key: Path, known_hosts: Path) -> str:
    """An OpenSSH client config: `ssh -F clab-<lab>/ssh_config leaf1` logs into a node."""
    blocks = []
    for short, long_name, address in hosts:
        blocks.append(
            f"Host {short} {long_name}\n"
            f"  HostName {address}\n"
            f"  User {LOGIN_USER}\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
        )
    return "# vxauto lab: ssh -F <this file> <node>\n" + "\n".join(blocks)
