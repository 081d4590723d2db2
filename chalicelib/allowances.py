"""The per-user allowances of PROTOCOL.md: how many frames of each kind a user may send.

Two allowances count a user's frames, shared by all their connections:
writes (sendMessage/editMessage/deleteMessage) and reads (getMessages,
getChanges, getMembers, joinRoom, markRead, ping); a third counts frames refused
as malformed (a flood of them is rate_limited too). Each is a window in the
guards table (chalicelib/store/guards.py); the limits come from settings
(0 turns one off), and the wording of the refusal lives here.
"""

from __future__ import annotations

from chalicelib import errors, settings, store

WRITES, READS, INVALID = "writes", "reads", "invalid"
_COUNTED = {WRITES: "messages, edits and deletes", READS: "requests", INVALID: "invalid frames"}


def take(username: str, allowance: str, now_s: int) -> None:
    """Count one frame of the user's against the named allowance; TooManyRequests when over."""
    config = settings.get()
    limit = {WRITES: config.rate_limit_writes, READS: config.rate_limit_reads,
             INVALID: config.rate_limit_invalid}[allowance]
    if not limit:
        return
    window = config.rate_limit_window_seconds
    key = f"rate#{allowance}#{username.lower()}"
    if store.guards().take_from_window(key, limit, window, now_s):
        raise errors.TooManyRequests(
            f"more than {limit} {_COUNTED[allowance]} in {window} seconds; slow down"
        )
