"""The configuration bundle: how a Linux/FRR VTEP's configuration travels as one NAPALM config text.

A Linux/FRR device's configuration is what vxauto renders for it: `frr.conf` plus the kernel script
(`interfaces.sh` on FRR leaves, `vxlan.sh`/`endpoint.sh` on Linux hosts). NAPALM passes a configuration
as one string, so the files travel as a JSON document:

    {"format": "vxauto-bundle/1",
     "files": {"frr.conf": "frr version 8.4\\n...", "interfaces.sh": "#!/bin/sh\\n..."},
     "target": "link lo state=up\\n..."}

File names say what a file is:
- `frr.conf`: the FRR configuration (optional; without it FRR is not touched).
- `*.sh`: kernel scripts in the vocabulary of vxauto's iproute2 templates (see `kernel.parse_script`).
- `kernel.state`: kernel state in the driver's canonical text (`link ... / address ... / flood ...`), what
  `get_config()` returns and backups contain, so a backup can be loaded back as a candidate.

`target` (optional) is the kernel state the renderer derived from the facts (`RenderedConfig.kernel_state`,
vxauto/model/kernel_state.py) in the canonical text; it decides addresses only of the devices it addresses,
as the script does. When present, the driver deploys it and does not read the scripts back.

`load_replace_candidate(filename=...)` also takes a rendered host directory (`out/leaf1/`), a single
rendered script (`out/h1.sh`) or a bundle file (`backups/leaf1/<time>.json`); files on disk carry no
target state, so there the scripts are read (`kernel.parse_script`), which gives the same state.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from vxauto.devices.napalm_frr.kernel_sync import KernelState, parse_script, parse_state
from vxauto.errors import VxautoError
from vxauto.render.engine import RenderedConfig

FORMAT = "vxauto-bundle/1"
FRR_FILE = "frr.conf"
STATE_FILE = "kernel.state"


@dataclass(frozen=True)
class Bundle:
    files: dict[str, str]
    source: str = "bundle"
    #: The kernel state derived from the facts (None: read it from the kernel files).
    target: KernelState | None = None

    def __post_init__(self) -> None:
        unknown = sorted(name for name in self.files if not _known(name))
        if unknown:
            raise VxautoError.single(
                self.source, "files", f"the frr driver deploys {FRR_FILE}, *.sh (vxauto iproute2 scripts) and "
                f"{STATE_FILE}; other rendered flavours (ifupdown2, netplan, networkd) are not deployable here",
                ", ".join(unknown),
            )
        if not self.files:
            raise VxautoError.single(self.source, "files", "an empty bundle (no files) is not a configuration")

    # --- text form -------------------------------------------------------------------------------------

    def dumps(self) -> str:
        document: dict[str, object] = {"format": FORMAT, "files": dict(sorted(self.files.items()))}
        if self.target is not None:
            document["target"] = self.target.text()
        return json.dumps(document, indent=1) + "\n"

    @classmethod
    def loads(cls, text: str, source: str = "config") -> Bundle:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise VxautoError.single(
                source, "", f"not a vxauto configuration bundle: expected JSON {{\"format\": \"{FORMAT}\", "
                f"\"files\": {{...}}}} ({error.msg} at line {error.lineno})", text[:60],
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise VxautoError.single(source, "format", f"expected {FORMAT!r}", found)
        files = document.get("files")
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise VxautoError.single(source, "files", "expected an object of file name -> text")
        target = document.get("target")
        if target is not None and not isinstance(target, str):
            raise VxautoError.single(source, "target", "expected the kernel state as text")
        state = parse_state(target, f"{source}:target", decides_listed=False) if target is not None else None
        return cls(dict(files), source, state)

    # --- other sources ---------------------------------------------------------------------------------

    @classmethod
    def from_rendered(cls, rendered: RenderedConfig) -> Bundle:
        return cls(dict(rendered.files), f"rendered {rendered.host}", rendered.kernel_state)

    @classmethod
    def from_path(cls, path: Path) -> Bundle:
        """A rendered host directory, a single rendered script, or a bundle (JSON) file."""
        if path.is_dir():
            files = {item.name: item.read_text(encoding="utf-8") for item in sorted(path.iterdir())
                     if item.is_file() and _known(item.name)}
            return cls(files, str(path))
        if not path.is_file():
            raise VxautoError.single(str(path), "", "no such file or directory")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sh" or (path.name in (FRR_FILE, STATE_FILE)):
            return cls({path.name: text}, str(path))
        return cls.loads(text, str(path))

    # --- meaning ---------------------------------------------------------------------------------------

    @property
    def frr_config(self) -> str | None:
        return self.files.get(FRR_FILE)

    def kernel(self) -> KernelState:
        """The kernel state to deploy: the target the renderer derived, else what all kernel files of the
        bundle describe together."""
        if self.target is not None:
            return copy.deepcopy(self.target)  # callers may merge into it
        state = KernelState()
        for name in sorted(self.files):
            if name.endswith(".sh"):
                parse_script(self.files[name], f"{self.source}:{name}", state)
            elif name == STATE_FILE:
                parse_state(self.files[name], f"{self.source}:{name}", state)
        return state

    @property
    def has_kernel(self) -> bool:
        return self.target is not None or any(name.endswith(".sh") or name == STATE_FILE for name in self.files)


def _known(name: str) -> bool:
    return name in (FRR_FILE, STATE_FILE) or (name.endswith(".sh") and "/" not in name)
