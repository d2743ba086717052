"""The containers on the agent as LeadRelay tells its own from anyone else's: found by tag, adopted, or stopped.

A container carries its run's tags (`userCustomMetadata`). One that no run holds is an orphan: a launch whose
answer was lost, or a late one. Its run adopts it if it still needs it; otherwise it is stopped, and only when
it is the one container running, because agents/stop stops whatever runs on the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from core import audit, lifecycle
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.models import Run, RunStatus
from core.phantombuster import Container, PhantomBusterClient

log = logging.getLogger(__name__)

RUN_TAG = "leadrelay_run"
FENCE_TAG = "leadrelay_fence"
ACTIVE_CONTAINER_STATUSES = ("starting", "running")


def run_tag(container: Container) -> int | None:
    """The LeadRelay run a container was launched for, from its tags (None for anyone else's container)."""
    value = container.metadata.get(RUN_TAG)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def fence_tag(container: Container) -> int | None:
    """The slot fence the container was launched under."""
    value = container.metadata.get(FENCE_TAG)
    return int(value) if isinstance(value, str) and value.isdigit() else None


class AgentContainers:
    """Finds, adopts and stops containers of the configured agent."""

    def __init__(
        self,
        db: Database,
        client: PhantomBusterClient,
        settings: Settings,
        doorbell: Doorbell,
        *,
        worker_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.doorbell = doorbell
        self.worker_id = worker_id
        self.clock = clock

    def find(self, run_id: int, *, fetched_since: datetime | None = None) -> Container | None:
        """The newest container PhantomBuster holds for `run_id`, found by the tag given at launch.

        Should PhantomBuster not echo the tags (they are in its published contract only since 2026), a run whose
        batch URL was fetched (`fetched_since`: the launch request) owns the one untagged container started since.
        """
        recent = self.client.recent_containers()
        tagged = [c for c in recent if run_tag(c) == run_id]
        if tagged:
            return tagged[0]
        if fetched_since is None or any(c.metadata for c in recent):
            return None
        since = fetched_since - timedelta(seconds=5)
        started = [c for c in recent if c.created_at is not None and c.created_at >= since]
        return started[0] if len(started) == 1 else None

    def running(self) -> list[Container]:
        """What runs on the agent now."""
        return [c for c in self.client.recent_containers() if c.status in ACTIVE_CONTAINER_STATUSES]

    def stop_if_alone(self, container_id: str, *, reason: str) -> bool:
        """agents/stop stops whatever runs on the agent: call it only when that is this container, alone."""
        running = self.running()
        if [c.id for c in running] != [container_id]:
            log.warning(
                "not stopping container %s (%s): the agent runs %s",
                container_id,
                reason,
                ", ".join(c.id for c in running) or "nothing",
            )
            return False
        self.client.stop_agent()
        with self.db.write() as session:
            audit.record(session, "worker", "container_stopped", phantom_container_id=container_id, reason=reason)
        return True

    def adopt(self, run_id: int, container: Container, *, actor: str) -> bool:
        """Give the container back to its run (when the run may take it) and ring the run's first check."""
        with self.db.write() as session:
            first = lifecycle.adopt(
                session,
                run_id,
                container,
                holder=self.worker_id,
                now=self.clock(),
                lease_seconds=self.settings.launch_lease_seconds,
                hold_seconds=self.settings.phantom_hold_seconds,
                actor=actor,
                launch_fence=fence_tag(container),
            )
        if first is None:
            return False
        ticket, delay = first
        self.doorbell.check(run_id, ticket, delay)
        return True

    def scan(self) -> list[str]:
        """Adopt (or stop) every recent container that carries a LeadRelay run tag but that no run holds."""
        return self.settle(self.client.recent_containers())

    def settle(self, containers: list[Container]) -> list[str]:
        """`scan` over containers already fetched."""
        done: list[str] = []
        for container in containers:
            run_id = run_tag(container)
            if run_id is None:
                continue
            with self.db.read() as session:
                held = session.scalar(select(Run.id).where(Run.container_id == container.id)) is not None
                known = session.scalar(select(Run.id).where(Run.id == run_id)) is not None
            if held or not known:
                continue  # known and fine, or not a run of this database (another installation, or retention)
            if self.adopt(run_id, container, actor="reconciler"):
                done.append(f"adopted container {container.id} for run {run_id}")
            elif container.status in ACTIVE_CONTAINER_STATUSES:
                reason = f"it was launched for run {run_id}, which no longer needs it"
                if self.stop_if_alone(container.id, reason=reason):
                    done.append(f"stopped container {container.id}: {reason}")
        return done

    def recover_launch_without_slot(self, run_id: int) -> str:
        """A `launching` run the slot no longer points at (it was released by hand): adopt its container or re-queue."""
        found = self.find(run_id)
        if found is not None:
            return "adopted" if self.adopt(run_id, found, actor="reconciler") else "slot_busy"
        with self.db.write() as session:
            run = session.get(Run, run_id, populate_existing=True)
            if run is None or run.status != RunStatus.LAUNCHING:
                return "not_launching"
            lifecycle.put_back(
                session,
                run_id,
                token=None,
                reason="The launch was interrupted while the slot was released by hand; queued again.",
                count_attempt=False,
                now=self.clock(),
                actor="reconciler",
            )
        self.doorbell.dispatch()
        return "queued_again"
