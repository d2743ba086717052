"""A run's batch as PhantomBuster downloads it: a CSV at an unguessable URL, valid while the run is in flight.

The Profile Scraper reads its input only from `spreadsheetUrl` (a CSV it downloads), so every launch gets a URL of
its own under PUBLIC_BASE_URL. The token is random, only its hash is stored, and it answers only for the run's
current launch, from the claim until a margin after the run ended; before, after and for any other run: nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import IN_FLIGHT_RUN_STATUSES, Lead, LeadStatus, Run

COLUMN = "profileUrl"
PATH_PREFIX = "/batches/"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(run: Run) -> str:
    """A new batch token for the run's launch (the previous launch's URL stops answering) and its result file name."""
    token = secrets.token_urlsafe(24)
    run.batch_token_hash = _hash(token)
    run.batch_fetched_at = None
    # A result file of this launch's own: the phantom skips every URL already in its result file.
    run.csv_name = f"leadrelay-run-{run.id}-{run.fence}"
    return token


def url(public_base_url: str, token: str) -> str:
    """The batch's address as PhantomBuster reaches it."""
    return f"{public_base_url}{PATH_PREFIX}{token}.csv"


def serve(session: Session, token: str, *, now: datetime, margin_seconds: float) -> bytes | None:
    """The batch CSV for a valid token (noting that PhantomBuster fetched it); None for anything else."""
    if not token or len(token) > 64:
        return None
    run = session.scalar(select(Run).where(Run.batch_token_hash == _hash(token)).with_for_update())
    if run is None:
        return None
    in_flight = run.status in IN_FLIGHT_RUN_STATUSES
    recently = run.ended_at is not None and now - run.ended_at <= timedelta(seconds=margin_seconds)
    if not (in_flight or recently):
        return None
    if run.batch_fetched_at is None:
        run.batch_fetched_at = now
    urls = session.scalars(
        select(Lead.linkedin_url).where(Lead.run_id == run.id, Lead.status == LeadStatus.PENDING).order_by(Lead.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([COLUMN])
    writer.writerows([u] for u in urls)
    return out.getvalue().encode()
