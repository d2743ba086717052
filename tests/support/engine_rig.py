"""The engine rig: an engine, a reconciler and an in-process doorbell on one database and the sandbox process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.engine import Engine
from core.models import Job, Run, User
from core.reconciler import Reconciler
from tests.support import factories
from tests.support.doorbell import QueueDoorbell
from tests.support.servers import ServerThread
from webhook_server import create_app


class Rig:
    """An engine, a reconciler and an in-process doorbell on one database and the sandbox process.

    The webhook server's app runs in a thread beside them: PhantomBuster (the sandbox) downloads each run's batch
    from it, at the address the launch gives.
    """

    def __init__(self, db, settings, sandbox, public_base_url: str) -> None:
        self.db = db
        self.sb = sandbox
        self.bell = QueueDoorbell()
        self.settings = settings.model_copy(
            update={
                "launch_lease_seconds": 60.0,
                "expected_run_seconds": 0.2,
                "launch_lookup_margin_seconds": 5.0,
                "public_base_url": public_base_url,
            }
        )
        self.engine = Engine(
            db, sandbox.client(sleep=lambda _: None), self.settings, self.bell, worker_id="test-worker"
        )
        self.reconciler = Reconciler(db, self.engine, self.bell, self.settings, worker_id="test-worker")

    def use(self, **changes) -> None:
        # model_copy skips validation: a one-second timeout keeps tests short.
        self.settings = self.settings.model_copy(update=changes)
        self.engine.settings = self.reconciler.settings = self.settings

    def job(self, companies: dict[str, int], batch_size: int = 2) -> int:
        with self.db.write() as s:
            owner = s.scalar(select(User).limit(1)) or factories.user(s)
            return factories.job(s, owner, companies, batch_size=batch_size).id

    def done(self, job_id: int):
        def finished() -> bool:
            with self.db.read() as s:
                return s.get(Job, job_id).finished_at is not None

        return finished

    def drain(self, done, timeout: float = 30.0) -> None:
        self.bell.drain(self.engine, self.reconciler, done, timeout)

    def run(self, run_id: int) -> Run:
        with self.db.read() as s:
            return s.get(Run, run_id)

    def fetches(self, container_id: str) -> int:
        return sum(
            1
            for c in self.sb.record()["calls"]
            if c["path"].endswith("containers/fetch") and c.get("containerId") == container_id
        )

    def wait(self, condition, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.05)


@pytest.fixture
def rig(db, settings, sandbox_process) -> Iterator[Rig]:
    sandbox_process.reset(run_seconds=[0.05, 0.1], max_parallelism=10, seed=3)
    with ServerThread(create_app(settings, db, QueueDoorbell())) as server:
        yield Rig(db, settings, sandbox_process, server.url)
