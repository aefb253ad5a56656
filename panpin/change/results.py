"""What became of a change: the results a journal record and an apply outcome can hold."""

from __future__ import annotations

from enum import StrEnum


class ChangeResult(StrEnum):
    """A change's result. The values are the journal's and the JSON output's strings."""

    STARTED = "started"  # written before anything else; a run that died leaves it
    NOTHING_TO_DO = "nothing-to-do"
    UNCOMMITTED = "uncommitted"  # written with --no-commit, left in the candidate
    COMMITTED = "committed"  # committed and the running list verified
    UNVERIFIED = "unverified"  # committed, but the running list could not be checked
    IN_DOUBT = "in-doubt"  # the commit's fate was unknown when the run ended
    REVERT_FAILED = "revert-failed"  # failed, and reverting its own changes failed too
    REVERTED = "reverted"  # failed and reverted: the device is as before
    ABORTED = "aborted"  # settled later: the commit never happened
    SUPERSEDED = "superseded"  # settled later: the list moved on
    PUSH_FAILED = "push-failed"  # committed on Panorama, the push failed on some firewall
    MANUAL = "manual"  # a person must look (the message says what)

    @property
    def unfinished(self) -> bool:
        """A later run on the device settles it by the running list (see settle_interrupted)."""
        return self in UNFINISHED


UNFINISHED = frozenset(
    {
        ChangeResult.STARTED,
        ChangeResult.REVERT_FAILED,
        ChangeResult.IN_DOUBT,
        ChangeResult.UNVERIFIED,
    }
)
# What a rollback may undo: something of it may be on the device. For in-doubt and superseded the
# commit's outcome is unknown; rolling back deletes only entries that still carry its marker.
ROLLBACKABLE = frozenset(
    {
        ChangeResult.COMMITTED,
        ChangeResult.PUSH_FAILED,
        ChangeResult.UNVERIFIED,
        ChangeResult.IN_DOUBT,
        ChangeResult.SUPERSEDED,
    }
)
