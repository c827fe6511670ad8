"""Shared helpers for the vxauto.fabric modules: import vxauto, turn its errors into fail_json."""

from __future__ import annotations

import traceback

# VxautoError is re-exported for the modules (they import it from here, so a missing vxauto fails cleanly).
__all__ = ["HAS_VXAUTO", "VXAUTO_IMPORT_ERROR", "VxautoError", "fail_on_bad_input", "require_vxauto"]

try:
    from vxauto.errors import VxautoError

    HAS_VXAUTO = True
    VXAUTO_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported through fail_json
    HAS_VXAUTO = False
    VXAUTO_IMPORT_ERROR = traceback.format_exc()
    VxautoError = Exception  # type: ignore[misc,assignment]


def require_vxauto(module) -> None:
    """Fail clearly when the interpreter running the module lacks vxauto."""
    if not HAS_VXAUTO:
        module.fail_json(
            msg="the vxauto Python package is not importable by this interpreter; run the play with "
            "ansible_python_interpreter set to the Python that has vxauto (the vxauto inventory plugin does this)",
            exception=VXAUTO_IMPORT_ERROR,
        )


def fail_on_bad_input(module, error: Exception) -> None:
    """A VxautoError names file, field and value: pass that on, without a traceback."""
    problems = [str(p) for p in getattr(error, "problems", [])] or [str(error)]
    module.fail_json(msg="; ".join(problems), problems=problems)
