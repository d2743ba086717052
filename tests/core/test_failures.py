"""Run failures in plain words: each says what happened and what to do, and whether a retry can help."""

from __future__ import annotations

import pytest

from core import failures


@pytest.mark.parametrize(
    ("status", "exit_code", "end_type", "code", "retryable", "words"),
    [
        ("finished", 84, None, "linkedin_session", False, "reconnect the LinkedIn account"),
        ("finished", 85, "finished", "linkedin_session", False, "PIN check"),
        ("launch error", None, None, "launch_error", True, "could not start"),
        ("finished", 1, "agent timeout", "agent_timeout", True, "lower the batch size"),
        ("finished", 1, "global timeout", "execution_time_exhausted", False, "execution time"),
        ("finished", 1, "org timeout", "execution_time_exhausted", False, "upgrade the plan"),
        ("finished", None, "killed", "killed", True, "stopped in PhantomBuster"),
        ("finished", 1, "no log timeout", "no_log_timeout", True, "stopped answering"),
        ("finished", 7, "finished", "exit_7", True, "exit code 7"),
        ("finished", None, None, "unknown", True, "retried automatically"),
    ],
)
def test_each_end_is_explained(status, exit_code, end_type, code, retryable, words):
    failure = failures.explain(status, exit_code, end_type)
    assert (failure.code, failure.retryable) == (code, retryable)
    assert words in failure.message


def test_a_dead_session_wins_over_the_end_type():
    # A session problem is the account's, whatever else the container says: retrying it only repeats it.
    assert failures.explain("finished", 83, "killed").code == "linkedin_session"


@pytest.mark.parametrize(
    ("seconds", "words"), [(1, "within 1 second,"), (90, "within 90 seconds,"), (1800, "within 30 minutes,")]
)
def test_a_timeout_says_the_limit_in_units_people_use(seconds, words):
    failure = failures.timed_out(seconds)
    assert words in failure.message and failure.retryable


def test_a_lost_container_names_it_and_is_queued_again():
    failure = failures.container_lost("4242")
    assert "4242" in failure.message and failure.retryable and failure.code == "container_lost"
