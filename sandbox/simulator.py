"""Framework-free PhantomBuster state: agents, containers, fault config, the call record and the run timers."""

from __future__ import annotations

import copy
import hmac
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox import faults as fault_knobs
from sandbox import views
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
    LaunchRequest,
    draw_plan,
    merge_argument,
    parse_argument,
    parse_launch,
    parse_save,
    profile_urls,
)
from sandbox.profiles import make_profile
from sandbox.webhooks import Delivery, HttpWebhookSender, WebhookSender


class Simulator:
    """The sandbox's whole state; every public method is thread-safe and returns plain JSON-ready data."""

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        faults: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        scheduler: Scheduler | None = None,
        sender: WebhookSender | None = None,
        max_calls: int = 100_000,
    ) -> None:
        self.api_key = api_key
        self.clock = clock
        self.scheduler: Scheduler = scheduler or AsyncioScheduler()
        self.sender: WebhookSender = sender or HttpWebhookSender()
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
        """Forget containers, record and fault changes (back to the startup faults); agents stay."""
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
    ) -> Agent:
        """Create (or replace) an agent."""
        with self.lock:
            now = self.clock()
            agent = Agent(
                agent_id,
                name,
                dict(argument or {"sessionCookie": "sandbox-session-cookie"}),
                now,
                now,
                max_parallelism,
                {"webhook": webhook_url or ""},
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

    def launch(self, body: Any) -> str:
        """POST agents/launch: validate, apply the parallelism limits, start a container; returns its id."""
        with self.lock:
            try:
                return self._launch(body)
            except ApiError as exc:
                agent_id = body.get("id") if isinstance(body, dict) else None
                self.note_rejected_launch(exc.slug or "invalidParameters", agentId=agent_id, detail=exc.message)
                raise

    def _launch(self, body: Any) -> str:
        request = parse_launch(body)
        agent = self.get_agent(request.agent_id, status=400)
        running = sum(1 for cid in self.active if self.containers[cid].agent_id == agent.id)
        cap = request.max_instance_count
        if running >= self.parallelism(agent) or (cap is not None and running >= cap):
            raise ApiError(429, PARALLELISM_MESSAGE, "maxParallelismReached", self.faults["retry_after_seconds"])
        merged = merge_argument(agent.argument, request)
        if request.save and request.argument is not None:
            agent.argument = dict(request.argument)
        return self._create_container(agent, merged, request)

    def _create_container(self, agent: Agent, argument: dict[str, Any], request: LaunchRequest) -> str:
        now = self.clock()
        self._seq += 1
        cid = str(self.rng.randrange(10**15, 10**16))
        while cid in self.containers:
            cid = str(self.rng.randrange(10**15, 10**16))
        rng = random.Random(f"{self._seed_base}:{self._seq}")
        urls = profile_urls(argument)
        meta = request.user_metadata
        record = {"containerId": cid, "agentId": agent.id, "accepted_at": now, "ended_at": None}
        record.update(status="starting", exitCode=None, endType=None, argument=argument)
        record.update(userCustomMetadata=meta, profileUrls=urls)
        plan = draw_plan(rng, self.faults)
        c = Container(cid, self._seq, agent.id, now, request.launch_type, argument, urls, meta, None, plan, rng, record)
        c.internal_metadata = request.internal_metadata
        self.containers[cid] = c
        self.launches.append(record)
        self.active.add(cid)
        self.max_concurrent = max(self.max_concurrent, len(self.active))
        agent.nb_launches += 1
        c.timers.append(self.scheduler.call_later(plan.start_delay, lambda: self._start(cid)))
        self._evict()
        return cid

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
            if body.get("argument") is not None:
                agent.argument = parse_argument("argument", body["argument"]) or {}
            if "maxParallelism" in body:
                agent.max_parallelism = body["maxParallelism"]
            agent.notifications.update(body.get("notifications") or {})
            agent.updated_at = self.clock()
            return agent.id

    def stop_agent(self, agent_id: Any) -> list[str]:
        """POST agents/stop: every running container of the agent ends killed (exit code 1)."""
        with self.lock:
            agent = self.get_agent(agent_id, status=400)
            stopped = [cid for cid in list(self.active) if self.containers[cid].agent_id == agent.id]
            for cid in stopped:
                c = self.containers[cid]
                c.output.append("⛔ Agent stopped on request (agents/stop)")
                c.output.append("Process finished with an error (exit code: 1)")
                self._end(c, "finished", "killed", 1, None, planned=False)
            return stopped

    def finish(self, container_id: str | None = None) -> list[str]:
        """End running containers now with their planned outcome (all, or the one given)."""
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
                elif c.status == "running":
                    self._complete(cid)
                else:
                    continue
                done.append(cid)
            return done

    # -- lifecycle -------------------------------------------------------------------------------------

    def _start(self, cid: str, then_finish: bool = False) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "starting":
                return
            if c.plan.launch_error:
                c.output.append("❌ Launch error: the agent could not be started")
                self._end(c, "launch error", c.plan.end_type, c.plan.exit_code, None, planned=True)
                return
            c.status = c.record["status"] = "running"
            c.launched_at = self.clock()
            c.output.extend(views.running_lines(c))
            if then_finish:
                self._complete(cid)
                return
            c.timers.append(self.scheduler.call_later(c.plan.run_seconds, lambda: self._complete(cid)))
            early = self.faults["webhook_early_seconds"]
            if early > 0:
                delay = max(0.0, c.plan.run_seconds - early)
                c.timers.append(self.scheduler.call_later(delay, lambda: self._early_webhook(cid)))

    def _result(self, c: Container) -> str | None:
        if c.result_fixed:
            return c.early_result
        stamp = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if c.plan.result == "null":
            return None
        if c.plan.result == "empty":
            return "[]"
        urls = c.profile_urls if c.plan.result == "full" else c.profile_urls[: len(c.profile_urls) // 2]
        return json.dumps([make_profile(u, stamp) for u in urls], ensure_ascii=False)

    def _early_webhook(self, cid: str) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "running" or c.launched_at is None:
                return
            c.early_result, c.result_fixed = self._result(c), True
            run_ms = round(c.plan.run_seconds * 1000)
            self._webhook(c, c.plan.end_type, c.plan.exit_code, c.early_result, run_ms)
            c.webhook_sent = True

    def _complete(self, cid: str) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "running":
                return
            result = self._result(c)
            c.output.extend(views.end_lines(c, result))
            self._end(c, "finished", c.plan.end_type, c.plan.exit_code, result, planned=True)

    def _end(self, c: Container, status: str, end_type: str, exit_code: int, result: str | None, planned: bool) -> None:
        now = self.clock()
        for timer in c.timers:
            timer.cancel()
        c.timers.clear()
        c.status, c.ended_at, c.end_type, c.exit_code, c.result_object = status, now, end_type, exit_code, result
        c.record.update(status=status, ended_at=now, exitCode=exit_code, endType=end_type)
        self.active.discard(c.id)
        agent = self.agents.get(c.agent_id)
        if agent is not None:
            agent.last_end_type, agent.last_ended_at, agent.last_exit_code = end_type, now, exit_code
        if planned and c.webhook_sent:
            return
        if status == "launch error" and not self.faults["webhook_on_launch_error"]:
            return
        run_ms = round((now - c.launched_at) * 1000) if c.launched_at is not None else 0
        self._webhook(c, end_type, exit_code, result, run_ms)

    def _webhook(self, c: Container, end_type: str, exit_code: int, result: str | None, run_ms: int) -> None:
        agent = self.agents.get(c.agent_id)
        url = agent.notifications.get("webhook") if agent is not None else None
        drop = c.rng.random() < self.faults["webhook_drop_rate"]
        if not url or agent is None:
            return
        if drop:
            self.webhooks.append({"containerId": c.id, "at": self.clock(), "error": "dropped"})
            return
        launched = c.launched_at if c.launched_at is not None else c.ended_at or self.clock()
        payload = {
            "agentId": agent.id,
            "agentName": agent.name,
            "containerId": c.id,
            "script": SCRIPT,
            "scriptOrg": "phantombuster",
            "branch": "master",
            "launchDuration": round((launched - c.created_at) * 1000),
            "runDuration": run_ms,
            "resultObject": result,
            "exitMessage": end_type,
            "exitCode": exit_code,
        }
        f = self.faults
        delivery = Delivery(
            str(url),
            payload,
            c.id,
            f["webhook_delay_seconds"],
            f["webhook_duplicates"],
            f["webhook_timeout_seconds"],
            f["webhook_retries"],
            f["webhook_retry_delay_seconds"],
        )
        generation = self.generation

        def report(container_id: str, status_code: int | None, error: str | None) -> None:
            with self.lock:
                if generation != self.generation:
                    return
                entry: dict[str, Any] = {"containerId": container_id, "at": self.clock()}
                entry.update({"status_code": status_code} if error is None else {"error": error})
                self.webhooks.append(entry)

        self.sender.send(delivery, report)
