"""Compare answers with expectations; known bugs turn into xfail, and a fixed bug into a failure
(so its marker is removed, and the correct expectation starts guarding the fix)."""
from __future__ import annotations

import pytest


def judge(what: str, expected: dict, actual: dict, bugs: dict, details: dict | None = None,
          excused: dict | None = None) -> None:
    """bugs: role -> reason, must still differ. excused: role -> reason, may differ (a role whose
    other answer is a known bug)."""
    excused = {**(excused or {}), **bugs}
    wrong = {role: (expected[role], actual[role]) for role in expected if expected[role] != actual[role]}
    unexplained = {role: f"expected {e!r}, got {a!r}" + (f" ({details[role]})" if details and details.get(role)
                                                            else "")
                   for role, (e, a) in wrong.items() if role not in excused}
    fixed = [role for role in bugs if role not in wrong]
    assert not unexplained, f"{what}: " + "; ".join(f"{role}: {msg}" for role, msg in unexplained.items())
    assert not fixed, (f"{what}: the known bug no longer shows for {', '.join(fixed)}: remove it from the "
                       f"table's bugs (the expectation already states the correct answer)")
    if wrong:
        pytest.xfail("; ".join(sorted({f"{role}: {excused[role]}" for role in wrong})))
