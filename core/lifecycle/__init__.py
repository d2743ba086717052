"""A run's life: the one place that changes a run's status, the PhantomBuster slot and the webhook inbox.

Everything else asks this package: the engine (after talking to PhantomBuster), the reconciler, the webhook server,
the analysts' and admins' actions and retention. Each function works inside the caller's transaction and never
commits; after the commit the caller rings the worker's doorbell for any follow-up the function asked for.
"""

from __future__ import annotations

from core.lifecycle.checks import hurry_check, note_checked, schedule_check
from core.lifecycle.controls import (
    cancel_job_runs,
    expire_lease,
    force_release,
    pause,
    queue_again,
    release_if_holder_ended,
    resume,
    retry_dead_run,
)
from core.lifecycle.ending import Finished, finish
from core.lifecycle.inbox import Recorded
from core.lifecycle.launching import (
    LaunchPlan,
    adopt,
    claim_next,
    current_plan,
    mark_launched,
    mark_unanswered,
    put_back,
)
from core.lifecycle.slot import Lease

__all__ = [
    "Finished",
    "LaunchPlan",
    "Lease",
    "Recorded",
    "adopt",
    "cancel_job_runs",
    "claim_next",
    "current_plan",
    "expire_lease",
    "finish",
    "force_release",
    "hurry_check",
    "mark_launched",
    "mark_unanswered",
    "note_checked",
    "pause",
    "put_back",
    "queue_again",
    "release_if_holder_ended",
    "resume",
    "retry_dead_run",
    "schedule_check",
]
