"""Sync pushes are denied by default: an op the entity accepts but no policy rule grants."""

from __future__ import annotations

from dataclasses import replace

from backend.auth.sync_access import permit, sync_actor
from sync.entities import GPS_FIX
from tests.dispatch.factories import actor


def test_an_op_no_rule_grants_is_refused_even_for_the_admin(session, demo):
    admin = sync_actor(session, actor(session, "admin"))
    unmapped = replace(GPS_FIX, name="gps_fix_unmapped")  # accepts append; no SYNC_ACTIONS row
    refusal = permit(unmapped)(admin, "append")
    assert refusal is not None and "no rule" in refusal
    # An op the entity itself refuses is left to the merge rules (op-not-allowed).
    assert permit(unmapped)(admin, "update") is None
    # A granted op passes for a role that has it.
    crew = sync_actor(session, actor(session, "crew1"))
    assert permit(GPS_FIX)(crew, "append") is None
