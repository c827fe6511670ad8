"""One test per getter, run over every platform's recorded cases (NAPALM's shared-getter idea).

Each case's expected result was written by reading the capture, so this checks the drivers and
parsers against a person's reading of real device output.
"""

from __future__ import annotations

import json

import pytest

from tests.getters.vxlan_cases import GETTERS, Case, all_cases, getter_for, normalised

CASES = all_cases()


def _case_getters() -> list[tuple[Case, str]]:
    return [(case, getter) for case in CASES for getter in GETTERS if getter in case.expected]


@pytest.mark.parametrize(("case", "getter"), _case_getters(), ids=lambda v: v.id if isinstance(v, Case) else v)
def test_getter_matches_reading_of_capture(case: Case, getter: str) -> None:
    result = getter_for(case, getter)()
    expected = normalised(getter, case.expected[getter])
    assert result == expected, (
        f"{case.id} {getter}:\n got      {json.dumps(result, sort_keys=True, default=str)}\n"
        f" expected {json.dumps(expected, sort_keys=True)}"
    )


def test_every_case_has_expectations_and_uses_all_its_replies() -> None:
    """No case without an expected result, and no recorded reply that no getter reads."""
    for case in all_cases():  # fresh cases: `asked` starts empty
        assert set(case.expected) <= set(GETTERS) and case.expected, case.id
        for getter in case.expected:
            getter_for(case, getter)()
        unused = sorted(set(case.spec["replies"]) - set(case.asked))
        assert not unused, (case.id, unused)


def test_every_platform_has_recorded_cases() -> None:
    platforms = {case.platform for case in CASES}
    assert {"eos", "nxos", "nxos_ssh", "junos", "frr", "linux"} <= platforms
    for platform in platforms:
        for getter in GETTERS:
            assert any(c.platform == platform and getter in c.expected for c in CASES), (platform, getter)
