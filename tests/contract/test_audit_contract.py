"""The audit contract: every write through the API, the pages and the admin that a permitted
user makes leaves exactly one audit entry; a refused write and every read leave none. Built from
the same table and the same requests as the permission matrix."""
import pytest

from .contract import CASES
from .runner import run_case
from .spec import expand, writers
from .verdict import judge
from .world import ALL

pytestmark = pytest.mark.django_db

CHECKED = [c for c in CASES if not c.problem]


@pytest.mark.parametrize("c", CHECKED, ids=[c.id for c in CHECKED])
def test_every_write_leaves_exactly_one_audit_entry(world, c):
    outcomes = run_case(world, c.template, c.method, c.case)
    writing = writers(c.case, c.template, c.method)
    expected = {role: 1 if role in writing else 0 for role in ALL}
    # A role whose answer is a known bug (xfail in the matrix) did not do what the table intends.
    broken = {role: reason for role, reason in c.case.bugs.items()
              if outcomes[role].status != expand(c.case.expect, c.template)[role]}
    judge(f"{c.id} audit entries", expected, {role: outcomes[role].audit_entries for role in ALL},
          c.case.audit_bugs, excused=broken)
