"""Framework-free PhantomBuster state: agents, containers, fault config, the call record and the run timers."""

from __future__ import annotations

import copy
import hmac
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sandbox import faults as fault_knobs
from sandbox.clock import AsyncioScheduler, Scheduler
from sandbox.faults import CallFaults
from sandbox.models import (
    ACTIVE,
    MAX_CONTAINERS,
    PARALLELISM_MESSAGE,
    SCRIPT,
    Agent,
    ApiError,
    Container,
    merge_argument,
    parse_argument,
    parse_launch,
    parse_save,
    parse_stop,
)
from sandbox.sheets import HttpSheetFetcher, SheetFetcher
from sandbox.storage import ResultStore
from sandbox.timeline import ContainerTimeline
from sandbox.webhooks import HttpWebhookSender, WebhookSender


class Simulator(ContainerTimeline):
    """The sandbox's whole state; every public method is thread-safe and returns plain JSON-ready data."""

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        faults: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        scheduler: Scheduler | None = None,
        sender: WebhookSender | None = None,
        sheets: SheetFetcher | None = None,
        storage_base_url: str = "http://127.0.0.1",
        max_calls: int = 100_000,
    ) -> None:
        self.api_key = api_key
        self.clock = clock
        self.scheduler: Scheduler = scheduler or AsyncioScheduler()
        self.sender: WebhookSender = sender or HttpWebhookSender()
        self.sheets: SheetFetcher = sheets or HttpSheetFetcher()
        # Where result-file links point when a launch did not come over HTTP (in-process tests).
        self.storage_base_url = storage_base_url
        self.store = ResultStore()
        self.hosted_sheets: dict[str, str] = {}
        self.lock = threading.RLock()
        self.initial_faults = fault_knobs.merge(fault_knobs.defaults(), faults or {})
        self.agents: dict[str, Agent] = {}
        self._max_calls = max_calls
        self._reset_state()

    def _reset_state(self) -> None:
        self.faults = copy.deepcopy(self.initial_faults)
        self._seed_base = self.faults["seed"] if self.faults["seed"] is not None else random.getrandbits(64)
        self.rng = random.Random(self._seed_base)
        self.containers: dict[str, Container] = {}
        self.active: set[str] = set()
        self.calls: deque[dict[str, Any]] = deque(maxlen=self._max_calls)
        self.launches: deque[dict[str, Any]] = deque(maxlen=self._max_calls)
        self.rejected: deque[dict[str, Any]] = deque(maxlen=self._max_calls)
        self.webhooks: deque[dict[str, Any]] = deque(maxlen=self._max_calls)
        self.max_concurrent = 0
        self.generation = getattr(self, "generation", 0) + 1
        self._seq = 0
        self.store.clear()
        self.hosted_sheets.clear()

    # -- control ---------------------------------------------------------------------------------------

    def check_key(self, given: str | None) -> bool:
        """True when `given` is the sandbox API key (constant-time compare)."""
        return given is not None and hmac.compare_digest(given.encode(), self.api_key.encode())

    def set_faults(self, changes: Any) -> dict[str, Any]:
        """Merge knobs into the current config (FaultError on a bad one); a new `seed` re-seeds the RNG."""
        with self.lock:
            self.faults = fault_knobs.merge(self.faults, changes)
            if isinstance(changes, dict) and changes.get("seed") is not None:
                self._seed_base = changes["seed"]
                self.rng = random.Random(self._seed_base)
            return dict(self.faults)

    def reset(self) -> None:
        """Forget containers, result files, record and fault changes (back to the startup faults); agents stay."""
        with self.lock:
            for c in self.containers.values():
                for timer in c.timers:
                    timer.cancel()
            self._reset_state()

    def shutdown(self) -> None:
        """Cancel every pending timer."""
        with self.lock:
            for c in self.containers.values():
                for timer in c.timers:
                    timer.cancel()

    def add_agent(
        self,
        agent_id: str,
        *,
        name: str = "LinkedIn Profile Scraper",
        webhook_url: str | None = None,
        argument: dict[str, Any] | None = None,
        max_parallelism: int | None = None,
        script: str = SCRIPT,
        max_retry_number: int = 0,
    ) -> Agent:
        """Create (or replace) an agent; by default a Profile Scraper with a session cookie and no retries."""
        with self.lock:
            now = self.clock()
            agent = Agent(
                agent_id,
                name,
                dict(argument if argument is not None else {"sessionCookie": "sandbox-session-cookie"}),
                now,
                now,
                max_parallelism,
                {"webhook": webhook_url or ""},
                script=script,
                max_retry_number=max_retry_number,
            )
            self.agents[agent_id] = agent
            return agent

    def call_faults(self, endpoint: str) -> CallFaults:
        """Decide (and count down) the injected faults for one call to `endpoint` (e.g. "agents/launch")."""
        with self.lock:
            return fault_knobs.take_call_faults(self.faults, endpoint, self.rng)

    def record_call(self, method: str, path: str, status: int, container_id: str | None = None) -> None:
        """Append one API call to the record."""
        entry: dict[str, Any] = {"at": self.clock(), "method": method, "path": path, "status": status}
        if container_id:
            entry["containerId"] = container_id
        with self.lock:
            self.calls.append(entry)

    def note_rejected_launch(self, reason: str, **extra: Any) -> None:
        """Record a launch that got no container."""
        with self.lock:
            self.rejected.append({"at": self.clock(), "reason": reason, **extra})

    def record_json(self) -> dict[str, Any]:
        """The record: calls, launches, rejected launches, webhook attempts, max and current concurrency."""
        with self.lock:
            return {
                "calls": list(self.calls),
                "launches": [dict(r) for r in self.launches],
                "rejected_launches": list(self.rejected),
                "webhooks": list(self.webhooks),
                "max_concurrent": self.max_concurrent,
                "running": len(self.active),
            }

    # -- API actions -----------------------------------------------------------------------------------

    def get_agent(self, agent_id: Any, status: int = 404) -> Agent:
        """The agent, or ApiError (404 "Agent not found." unless another status is given)."""
        agent = self.agents.get(str(agent_id)) if agent_id is not None else None
        if agent is None:
            message = "No agent exists with the provided id." if status == 400 else "Agent not found."
            raise ApiError(status, message, "agentNotFound")
        return agent

    def get_container(self, container_id: Any) -> Container:
        """The container, or ApiError 404 "No container exists with the provided id."."""
        c = self.containers.get(str(container_id)) if container_id is not None else None
        if c is None:
            raise ApiError(404, "No container exists with the provided id.", "containerNotFound")
        return c

    def parallelism(self, agent: Agent) -> int:
        """The agent's effective max parallel executions: the knob, else the agent's setting, else 1."""
        return self.faults["max_parallelism"] or agent.max_parallelism or 1

    def launch(self, body: Any, base_url: str | None = None) -> str:
        """POST agents/launch: validate, apply the parallelism limits, start a container; returns its id.

        `base_url` is the address the caller reached the sandbox at: result-file links point there.
        """
        with self.lock:
            try:
                return self._launch(body, base_url or self.storage_base_url)
            except ApiError as exc:
                agent_id = body.get("id") if isinstance(body, dict) else None
                self.note_rejected_launch(exc.slug or "invalidParameters", agentId=agent_id, detail=exc.message)
                raise

    def _launch(self, body: Any, base_url: str) -> str:
        request = parse_launch(body)
        agent = self.get_agent(request.agent_id, status=400)
        running = sum(1 for cid in self.active if self.containers[cid].agent_id == agent.id)
        cap = request.max_instance_count
        if running >= self.parallelism(agent) or (cap is not None and running >= cap):
            raise ApiError(429, PARALLELISM_MESSAGE, "maxParallelismReached", self.faults["retry_after_seconds"])
        merged = merge_argument(agent.argument, request)
        if request.save and request.argument is not None:
            agent.argument = dict(request.argument)
        return self._create_container(agent, merged, request, storage_base=base_url)

    def _evict(self) -> None:
        if len(self.containers) <= MAX_CONTAINERS:
            return
        for cid in [cid for cid, c in self.containers.items() if c.status not in ACTIVE][: MAX_CONTAINERS // 10]:
            del self.containers[cid]

    def save_agent(self, body: Any) -> str:
        """POST agents/save: create (no id, or an id not seen yet) or update an agent; returns its id."""
        with self.lock:
            body = parse_save(body)
            agent_id = str(body["id"]) if body.get("id") is not None else str(self.rng.randrange(10**15, 10**16))
            agent = self.agents.get(agent_id) or self.add_agent(
                agent_id, name=body.get("name") or "LinkedIn Profile Scraper"
            )
            if body.get("name") is not None:
                agent.name = body["name"]
            if body.get("script") is not None:
                agent.script = body["script"]
            if "argument" in body:
                agent.argument = parse_argument("argument", body["argument"]) or {}
            if "maxParallelism" in body:
                agent.max_parallelism = None if body["maxParallelism"] is None else int(body["maxParallelism"])
            if "maxRetryNumber" in body:
                agent.max_retry_number = int(body["maxRetryNumber"] or 0)
            if "launchType" in body:
                agent.launch_type = body["launchType"]
            agent.notifications.update(body.get("notifications") or {})
            agent.updated_at = self.clock()
            return agent.id

    def stop_agent(self, body: Any) -> list[str]:
        """POST agents/stop: every running container of the agent ends killed (exit code 1)."""
        with self.lock:
            agent = self.get_agent(parse_stop(body), status=400)
            stopped = [cid for cid in list(self.active) if self.containers[cid].agent_id == agent.id]
            for cid in stopped:
                c = self.containers[cid]
                c.output.append("⛔ Agent stopped on request (agents/stop)")
                c.output.append("Process finished with an error (exit code: 1)")
                self._end(c, "finished", "killed", 1, None, planned=False)
            return stopped

    def finish(self, container_id: str | None = None) -> list[str]:
        """End running containers now with their planned outcome (all, or the one given).

        A container still downloading its sheet ends as soon as the download is done (see `wait_ended`).
        """
        with self.lock:
            ids = (
                [self.get_container(container_id).id]
                if container_id
                else sorted(self.active, key=lambda cid: self.containers[cid].seq)
            )
            done = []
            for cid in ids:
                c = self.containers[cid]
                if c.status == "starting":
                    self._start(cid, then_finish=True)
                elif c.status == "running" and c.input_ready:
                    self._complete(cid)
                elif c.status == "running":
                    c.finish_now = True
                else:
                    continue
                done.append(cid)
            return done

    def is_active(self, container_id: str) -> bool:
        with self.lock:
            return container_id in self.active

    def take_unknown_status(self, c: Container) -> bool:
        """True when this containers/fetch answer reports status `unknown` (knob `unknown_status_count`)."""
        with self.lock:
            if c.status in ACTIVE and self.faults["unknown_status_count"] > 0:
                self.faults["unknown_status_count"] -= 1
                return True
            return False

    def host_sheet(self, text: str) -> str:
        """Keep a CSV for `/__sandbox/sheets/<id>.csv` (demos without a webhook server); returns its id."""
        with self.lock:
            sheet_id = f"{self.rng.getrandbits(64):016x}"
            self.hosted_sheets[sheet_id] = text
            return sheet_id
