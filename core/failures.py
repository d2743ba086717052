"""Plain-words explanations of PhantomBuster run failures, each with the next step and whether a retry helps."""

from __future__ import annotations

from dataclasses import dataclass

from core.phantombuster_answers import SESSION_EXIT_CODES, is_session_problem


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a run failed, for an analyst, and whether launching it again may help."""

    code: str
    message: str
    retryable: bool


CANCELLED = "Cancelled while PhantomBuster was running it."


def session_expired(exit_code: int | None) -> Failure:
    """The run ended on a dead LinkedIn session (exit 83, 84, 85 or 87): relaunching on it only repeats that."""
    reason = SESSION_EXIT_CODES.get(exit_code or 0, "the LinkedIn session is no longer valid")
    return Failure("linkedin_session", f"The LinkedIn session stopped working: {reason}.", retryable=False)


def timed_out(limit_seconds: int) -> Failure:
    """The run exceeded SEQUENTIAL_QUEUE_TIMEOUT and was stopped."""
    limit = (
        f"{limit_seconds} second{'' if limit_seconds == 1 else 's'}"
        if limit_seconds < 120
        else f"{round(limit_seconds / 60)} minutes"
    )
    return Failure(
        "timed_out",
        f"No result from PhantomBuster within {limit}, so the run was stopped; it is retried automatically.",
        retryable=True,
    )


def container_lost(container_id: str) -> Failure:
    """PhantomBuster answers 404 for the run's container: it was deleted, or the agent was reset."""
    return Failure(
        "container_lost",
        f"PhantomBuster no longer knows the run's container {container_id} (it was deleted or the agent was reset); "
        "the batch is queued again.",
        retryable=True,
    )


def explain(status: str, exit_code: int | None, end_type: str | None) -> Failure:
    """Explain a finished container that did not succeed."""
    if is_session_problem(exit_code):
        return session_expired(exit_code)
    if status == "launch error":
        return Failure("launch_error", "PhantomBuster could not start the run; it is retried automatically.", True)
    if end_type == "agent timeout":
        return Failure(
            "agent_timeout",
            "The run hit the agent's time limit in PhantomBuster; it is retried automatically. "
            "If it keeps happening, lower the batch size.",
            True,
        )
    if end_type in ("global timeout", "org timeout"):
        return Failure(
            "execution_time_exhausted",
            "PhantomBuster's execution time for the plan ran out: wait for the reset or upgrade the plan, "
            "then retry failed leads.",
            False,
        )
    if end_type == "killed":
        return Failure("killed", "The run was stopped in PhantomBuster before it finished; it is retried.", True)
    if end_type == "no log timeout":
        return Failure(
            "no_log_timeout", "The run stopped answering in PhantomBuster; it is retried automatically.", True
        )
    code = "unknown" if exit_code is None else f"exit_{exit_code}"
    return Failure(
        code,
        f"The PhantomBuster run ended with an error (exit code {exit_code}); it is retried automatically. "
        "If it keeps failing, open the run's console output in PhantomBuster.",
        True,
    )
