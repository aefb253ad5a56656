"""The one exception tree of panpin.

Every error a user can see is a :class:`PanpinError`; its ``exit_code`` is the CLI exit code of
docs/design.md. PAN-OS response codes and HTTP statuses are mapped to classes by :data:`PANOS_CODE_CLASSES`
and :data:`HTTP_STATUS_CLASSES` (one table each, like httpx's ``_exceptions``), never by matching
message text where a code exists.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
EXIT_COMMIT_FAILED = 4
EXIT_BUSY = 5
EXIT_MANUAL = 6


class PanpinError(Exception):
    """Root of every error panpin raises on purpose."""

    exit_code = EXIT_RUNTIME


# --- usage and input (exit 2): nothing on the device changes -------------------------------------


class InputError(PanpinError):
    """Bad flags, settings, policy or plan file."""

    exit_code = EXIT_USAGE


class SettingsError(InputError):
    """Device/connection settings are missing, contradictory or unsafe (e.g. key file mode)."""


class PolicyError(InputError):
    """A policy file is invalid; the message names ``file:line: key: problem``."""


class PlanError(InputError):
    """A plan file is invalid, tampered with, or stale against the device."""


class StalePlan(PlanError):
    """The list on the device is no longer the plan's base: someone changed it since."""


class InvalidHost(InputError):
    """A host name that must not reach an xpath or an XML element."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid host {value[:80]!r}: {reason}")
        self.value = value
        self.reason = reason


# --- device, network and API (exit 1 unless stated) ----------------------------------------------


class DeviceError(PanpinError):
    """Something went wrong talking to the device."""


class TransportError(DeviceError):
    """The HTTP exchange failed: connection refused/reset, timeout, bad HTTP status."""


class ConnectError(TransportError):
    """Connection refused, reset or timed out before an answer; transient."""


class TLSError(TransportError):
    """The device's certificate was not trusted (CA, host name, expiry or fingerprint)."""


class HTTPStatusError(TransportError):
    """The device answered with an HTTP status that carries no PAN-OS envelope we can use."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RedirectRefused(HTTPStatusError):
    """A 3xx answer. The XML API never redirects; something between panpin and the device does
    (a wrong host, a proxy, a captive portal). Never followed, never taken as success: not retried."""

    def __init__(self, message: str, status: int, location: str | None = None) -> None:
        super().__init__(message, status)
        self.location = location


class DeviceTooSlow(TransportError):
    """A whole answer took longer than the request deadline (headers and body): not retried."""


class RunDeadline(PanpinError):
    """The run's total deadline passed before panpin could send its next request (exit 1)."""


class ServerUnavailable(HTTPStatusError):
    """HTTP 502/503/504: the management plane is busy or restarting; transient."""


class ResponseError(DeviceError):
    """The response body could not be accepted: not XML, hostile XML, or too large."""


class UnknownLogFormat(DeviceError):
    """A log page whose entries carry none of the fields panpin reads: a format it does not know.

    An error, never "nothing found": a renamed field would otherwise hide every pinning host.
    """


class ApiError(DeviceError):
    """PAN-OS answered ``status="error"``; ``code`` is the PAN-OS code when it sent one."""

    def __init__(
        self, message: str, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class AuthError(ApiError):
    """Code 403 / HTTP 403: invalid credentials, invalid key, or the role lacks rights (code 16)."""


class CredentialRefused(AuthError):
    """``Invalid Credential``: the key (or, for keygen, the user name and password) was refused.
    The transport words the message with the device and the user (:mod:`panpin.panos.xmlapi`)."""


class PermissionDenied(AuthError):
    """The key is valid but the admin's role lacks an XML API permission (HTTP 403, ``Type [X]
    not authorized for user role``). A permission, not a fault: never retried, never a reason to
    try an HA peer."""


class BadRequest(ApiError):
    """Code 400 / HTTP 400, or codes 1, 17, 18: the request itself is wrong."""


class BadXpath(ApiError):
    """Code 6."""


class NotPresent(ApiError):
    """Code 7 (as an error, e.g. ``job N not found``) or ``No such node`` on ``show``."""


class NotUnique(ApiError):
    """Code 8."""


class ReferenceNotZero(ApiError):
    """Code 10."""


class InvalidObject(ApiError):
    """Code 12: validation failed."""


class ObjectNotFound(ApiError):
    """Code 13."""


class OperationNotPossible(ApiError):
    """Code 14: allowed but not possible now."""


class OperationDenied(ApiError):
    """Code 15, e.g. on an HA passive peer."""


class InternalError(ApiError):
    """Codes 2-5, 11, 21: device-side internal errors."""


class SessionTimedOut(ApiError):
    """Code 22: ``Session timed out``; transient."""


class BusyError(ApiError):
    """The device or another panpin run is busy (exit 5)."""

    exit_code = EXIT_BUSY


class LockHeld(BusyError):
    """A config or commit lock is held by someone else."""


class LockAlreadyOurs(ApiError):
    """``You already own a config lock``: this admin holds the lock already (not a conflict)."""


class NotLocked(ApiError):
    """``Config is not currently locked``: there is no lock of ours to release."""


class CommitInProgress(BusyError):
    """``Another commit/validate is in progress``; transient for reads, exit 5 for a change."""


class RunLocked(BusyError):
    """Another panpin run on the same state database holds the run lock."""


class JobError(DeviceError):
    """A PAN-OS job (log query, commit, push) failed or did not finish in time."""

    def __init__(
        self, message: str, job_id: str | None = None, details: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.details = details


class JobFailed(JobError):
    """The job reached FIN with result FAIL (or a device in a push failed)."""


class JobTimeout(JobError):
    """The job did not reach FIN before the deadline."""


# --- change lifecycle outcomes --------------------------------------------------------------------


class CommitFailed(PanpinError):
    """The change could not be committed; panpin's own candidate changes were reverted."""

    exit_code = EXIT_COMMIT_FAILED


class StateError(PanpinError):
    """The state database failed while panpin was working (disk full, a damaged file).

    Exit 1, not 2: the input was fine when the run started (it was checked before any lock was
    taken); something broke underneath. Before the run, an unusable state path is a
    :class:`SettingsError` (exit 2).
    """


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C, through the same clean-up (``signum`` says which)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class ManualInterventionNeeded(PanpinError):
    """The device state could not be restored or verified; a person must check what the message says."""

    exit_code = EXIT_MANUAL


# One table from PAN-OS response code to class (docs/design.md: PAN-OS response codes map to classes in one table).
PANOS_CODE_CLASSES: dict[int, type[ApiError]] = {
    400: BadRequest,
    403: AuthError,
    1: BadRequest,
    2: InternalError,
    3: InternalError,
    4: InternalError,
    5: InternalError,
    6: BadXpath,
    7: NotPresent,
    8: NotUnique,
    10: ReferenceNotZero,
    11: InternalError,
    12: InvalidObject,
    13: ObjectNotFound,
    14: OperationNotPossible,
    15: OperationDenied,
    16: AuthError,
    17: BadRequest,
    18: BadRequest,
    21: InternalError,
    22: SessionTimedOut,
}

# HTTP statuses that carry no usable PAN-OS envelope.
HTTP_STATUS_CLASSES: dict[int, type[HTTPStatusError]] = {
    502: ServerUnavailable,
    503: ServerUnavailable,
    504: ServerUnavailable,
}

# HTTP statuses that PAN-OS uses with an XML body whose code repeats the status.
HTTP_STATUS_API_CLASSES: dict[int, type[ApiError]] = {
    400: BadRequest,
    403: AuthError,
}


def api_error_for(message: str, code: int | None, http_status: int | None = None) -> ApiError:
    """Build the exception for a PAN-OS error envelope.

    Some conditions come without a distinguishing code (PAN-OS sends ``status="error"`` with no code
    for ``No such node``, for lock conflicts and for a running commit); for those alone the message is
    the only signal, so :func:`_classify_uncoded` looks at it.
    """
    cls: type[ApiError] | None = None
    if code is not None:
        cls = PANOS_CODE_CLASSES.get(code)
    if cls is None and http_status is not None:
        cls = HTTP_STATUS_API_CLASSES.get(http_status)
    if cls is None or cls in (OperationNotPossible, ObjectNotFound):
        # Codes 13 and 14 are also used for "Another commit/validate is in progress" and for lock
        # conflicts (seen quoted from live devices); those have no code of their own, so refine.
        refined = _classify_uncoded(message)
        if refined is not None:
            cls = refined
    if cls is None:
        cls = ApiError
    if cls is AuthError and "invalid credential" in message.lower():
        return CredentialRefused(message.strip(), code=code, http_status=http_status)
    if issubclass(cls, AuthError):
        denied = _NOT_AUTHORIZED.search(message)
        if denied:
            kind = denied.group(1)
            return PermissionDenied(
                f"the admin's role lacks the XML API {kind} permission ({message.strip()}); "
                f"allow `{kind}` under Device > Admin Roles > XML API for this admin",
                code=code,
                http_status=http_status,
            )
    return cls(message, code=code, http_status=http_status)


# "Type [commit] not authorized for user role" (reference ha-and-roles).
_NOT_AUTHORIZED = re.compile(r"Type \[([a-z-]+)\] not authorized for user role", re.IGNORECASE)


# Message fragments for errors PAN-OS sends without a code of their own (docs/panos-api.md: errors).
_UNCODED_MESSAGES: tuple[tuple[str, type[ApiError]], ...] = (
    ("session timed out", SessionTimedOut),
    # Before the LockHeld fragments: these are about our own lock, not someone else's.
    ("you already own a config lock", LockAlreadyOurs),
    ("is not currently locked", NotLocked),
    ("lock is not currently held", NotLocked),
    ("commit/validate is in progress", CommitInProgress),
    ("a commit is in progress", CommitInProgress),
    ("install is in progress", CommitInProgress),
    ("another sync is in progress", CommitInProgress),
    ("lock is already held by", LockHeld),
    ("currently locked by", LockHeld),
    ("configuration is locked by", LockHeld),
    ("holding device wide commit locks", LockHeld),
    ("no such node", NotPresent),
    ("invalid credential", AuthError),
)


def _classify_uncoded(message: str) -> type[ApiError] | None:
    lowered = message.lower()
    for fragment, cls in _UNCODED_MESSAGES:
        if fragment in lowered:
            return cls
    return None
