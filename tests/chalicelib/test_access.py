"""Who may enter and moderate a room (chalicelib/access.py): the decisions alone."""

from __future__ import annotations

import pytest

from chalicelib import access


def standing(kind="public", role=None, banned=False, admin=False, exists=True, room="team"):
    return access.Standing("alice", room, exists, kind, None, role, banned, admin, ())


@pytest.mark.parametrize(
    "s, allowed",
    [
        (standing("public"), True),
        (standing("public", banned=True), False),
        (standing("public", banned=True, admin=True), True),
        (standing("public", exists=False), True),  # joining a new name creates it
        (standing("public", exists=False, room="dm-0123"), False),  # names of direct rooms
        (standing("private"), False),
        (standing("private", role="member"), True),
        (standing("private", admin=True), True),
        (standing("direct", role="member"), True),
        (standing("direct", admin=True), False),  # admins never enter a direct room
    ],
)
def test_who_may_enter(s, allowed):
    assert access.may_enter(s) is allowed


@pytest.mark.parametrize(
    "s, allowed",
    [
        (standing("private", role="owner"), True),
        (standing("public", role="moderator"), True),
        (standing("private", role="member"), False),
        (standing("public"), False),
        (standing("public", admin=True), True),
        (standing("direct", role="member", admin=True), False),
    ],
)
def test_who_may_moderate(s, allowed):
    assert access.may_moderate(s) is allowed


def test_the_other_member_of_a_direct_room():
    s = access.Standing("Alice", "dm-x", True, "direct", None, "member", False, False,
                        ("alice", "Bob"))
    assert s.other_member() == "Bob"
