"""The one exception hierarchy of LeadRelay: core raises these, the edges catch and explain."""

from __future__ import annotations


class InternalSignal(Exception):
    """Base of control-flow signals inside core; never shown to a person (that is LeadRelayError's job)."""


class LeadRelayError(Exception):
    """Base of every error LeadRelay raises on purpose; its message is meant for a person."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(LeadRelayError):
    """A setting is missing or has a bad value."""

    code = "config"


class NotFound(LeadRelayError):
    """The thing asked for does not exist or is not visible to the asker."""

    code = "not_found"


class PermissionDenied(LeadRelayError):
    """The user may not do this."""

    code = "forbidden"


class InvalidInput(LeadRelayError):
    """Input from a person or a file was refused; the message says why."""

    code = "invalid_input"


class NothingToSend(InvalidInput):
    """Every lead of a file was enriched recently: its results can be had without queueing anything."""

    code = "nothing_to_send"

    def __init__(self, reused: int) -> None:
        super().__init__(
            f"All {reused:,} leads of this file were enriched in the last days, so there is nothing to send: "
            'download their results here, or tick "Enrich them again" to send them anyway.'
        )
        self.reused = reused


class LimitReached(LeadRelayError):
    """A configured limit (active jobs, file size, rows) was reached."""

    code = "limit"


class AuthError(LeadRelayError):
    """Sign-in failed; the message never tells which part was wrong."""

    code = "auth"


class LeaseLost(InternalSignal):
    """The slot lease moved to another holder: this worker may write nothing more."""


class ServiceUnavailable(LeadRelayError):
    """A service the project needs (Redis-compatible server, database) could not be reached or started."""

    code = "service_unavailable"


class PhantomBusterError(LeadRelayError):
    """PhantomBuster answered with an error or could not be reached."""

    code = "phantombuster"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


class PhantomBusterBusy(PhantomBusterError):
    """PhantomBuster refused a launch with maxParallelismReached: the slot is busy, the job is fine."""

    code = "max_parallelism_reached"


class CircuitOpen(PhantomBusterError):
    """Too many PhantomBuster failures in a row: calls pause until the breaker cools down."""

    code = "circuit_open"
