"""A container's life in the sandbox: start, read the input, log in, scrape, save the result files, end, retry."""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox import scraper, views
from sandbox.clock import Scheduler
from sandbox.models import Agent, Container, LaunchRequest, draw_plan
from sandbox.sheets import SheetFetcher
from sandbox.storage import ResultStore, file_name
from sandbox.webhooks import Delivery, WebhookSender


class ContainerTimeline:
    """The run timeline of the Simulator (mixed into it); every method here runs under `self.lock`."""

    lock: threading.RLock
    faults: dict[str, Any]
    scheduler: Scheduler
    sender: WebhookSender
    sheets: SheetFetcher
    store: ResultStore
    agents: dict[str, Agent]
    containers: dict[str, Container]
    active: set[str]
    launches: deque[dict[str, Any]]
    webhooks: deque[dict[str, Any]]
    rng: random.Random
    generation: int
    max_concurrent: int
    _seq: int
    _seed_base: int

    clock: Callable[[], float]

    def _evict(self) -> None:
        raise NotImplementedError

    # -- creation ---------------------------------------------------------------------------------------

    def _create_container(
        self,
        agent: Agent,
        argument: dict[str, Any],
        request: LaunchRequest,
        *,
        storage_base: str,
        retry_number: int = 0,
    ) -> str:
        now = self.clock()
        self._seq += 1
        cid = str(self.rng.randrange(10**15, 10**16))
        while cid in self.containers:
            cid = str(self.rng.randrange(10**15, 10**16))
        rng = random.Random(f"{self._seed_base}:{self._seq}")
        meta = request.user_metadata
        launch_type = "retry" if retry_number else request.launch_type
        record = {"containerId": cid, "agentId": agent.id, "accepted_at": now, "ended_at": None}
        record.update(status="starting", exitCode=None, endType=None, argument=argument)
        record.update(userCustomMetadata=meta, profileUrls=[], launchType=launch_type, retryNumber=retry_number)
        plan = draw_plan(rng, self.faults)
        c = Container(cid, self._seq, agent.id, now, launch_type, argument, [], meta, None, plan, rng, record)
        c.internal_metadata = request.internal_metadata
        c.retry_number, c.storage_base = retry_number, storage_base.rstrip("/")
        c.csv_name = file_name(argument.get("csvName"))
        self.containers[cid] = c
        self.launches.append(record)
        self.active.add(cid)
        self.max_concurrent = max(self.max_concurrent, len(self.active))
        agent.nb_launches += 1
        c.timers.append(self.scheduler.call_later(plan.start_delay, lambda: self._start(cid)))
        self._evict()
        return cid

    # -- start and input --------------------------------------------------------------------------------

    def _start(self, cid: str, then_finish: bool = False) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "starting":
                return
            c.finish_now = c.finish_now or then_finish
            if c.plan.launch_error:
                c.output.append("❌ Launch error: the agent could not be started")
                self._end(c, "launch error", c.plan.end_type, c.plan.exit_code, None, planned=True)
                return
            c.status = c.record["status"] = "running"
            c.launched_at = self.clock()
            c.output.extend(views.running_lines(c))
            try:
                source = scraper.read_input(c.argument)
            except scraper.InputError as exc:
                self._fail(c, exc.exit_code, [exc.line])
                return
            if source.single_profile is not None:
                self._input_ready(c, [source.single_profile], single=True)
                return
            url = str(source.sheet_url)
            c.output.append(f"🔄 Getting data from {url}...")
            generation = self.generation
            self.sheets.fetch(
                url,
                lambda text, error: self._sheet_done(cid, generation, url, text, error),
                timeout=self.faults["sheet_timeout_seconds"],
                max_bytes=self.faults["sheet_max_bytes"],
            )

    def _sheet_done(self, cid: str, generation: int, url: str, text: str | None, error: str | None) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if generation != self.generation or c is None or c.status != "running" or c.input_ready:
                return
            if error is not None or text is None:
                self._fail(c, 1, [f"❌ {error}"])
                return
            try:
                urls, lines = scraper.sheet_urls(url, text, c.argument.get("columnName"))
            except scraper.InputError as exc:
                self._fail(c, exc.exit_code, [exc.line])
                return
            c.output.extend(lines)
            self._input_ready(c, urls, single=False)

    def _input_ready(self, c: Container, urls: list[str], *, single: bool) -> None:
        """Skip what the result file already has, cap the launch, log in; then scrape for `run_seconds`."""
        c.input_ready = True
        result_file = self.store.get(c.agent_id, c.csv_name)
        if not single:
            # A single profile URL is scraped again; rows of a sheet already in the result file (failed ones
            # included) are skipped (STORE `filterRows`), so a re-sent URL needs a result file of its own.
            urls = scraper.unique(urls)
            if self.faults["skip_processed"]:
                urls = [u for u in urls if not result_file.processed(u)]
        urls = urls[: scraper.per_launch_cap(c.argument, self.faults["default_adds_per_launch"])]
        c.profile_urls = urls
        c.record["profileUrls"] = list(urls)
        if not urls:
            c.output.append(scraper.NOTHING_TO_DO)
            c.output.append("Process finished successfully (exit code: 0)")
            self._end(c, "finished", "finished", 0, None, planned=True)
            return
        c.output.append(scraper.urls_line(urls))
        c.output.append("🔄 Connecting to LinkedIn...")
        if self.faults["require_credentials"] and not scraper.has_credentials(c.argument):
            self._fail(c, 87, [scraper.NO_CREDENTIALS_LINE])
            return
        if c.plan.exit_code in scraper.SESSION_CODES:
            self._fail(c, c.plan.exit_code, scraper.SESSION_LINES[c.plan.exit_code])
            return
        c.output.append("✅ Connected successfully as Sandbox User")
        if c.finish_now:
            self._complete(c.id)
            return
        cid = c.id
        c.timers.append(self.scheduler.call_later(c.plan.run_seconds, lambda: self._complete(cid)))
        early = self.faults["webhook_early_seconds"]
        if early > 0:
            delay = max(0.0, c.plan.run_seconds - early)
            c.timers.append(self.scheduler.call_later(delay, lambda: self._early_webhook(cid)))

    def _fail(self, c: Container, exit_code: int, lines: list[str]) -> None:
        c.output.extend(lines)
        c.output.append(f"Process finished with an error (exit code: {exit_code})")
        self._end(c, "finished", "finished", exit_code, None, planned=True)

    # -- scraping and the result ------------------------------------------------------------------------

    def _tried(self, c: Container) -> tuple[list[str], str | None]:
        """The URLs this run gets to, and the early-stop line when it stops before the end with exit 0."""
        urls, plan = c.profile_urls, c.plan
        if plan.result == "partial":
            return urls[: len(urls) // 2], None
        if plan.result in ("empty", "null") or plan.exit_code:
            return [], None
        after = self.faults["early_stop_after"]
        stop = after if after is not None and after < len(urls) else None
        if stop is None and plan.early_stop is not None and len(urls) > 1:
            stop = int(plan.early_stop * len(urls))
        if stop is None:
            return urls, None
        return urls[:stop], scraper.STOP_LINES[self.faults["early_stop_reason"]]

    def _scrape(self, c: Container) -> str | None:
        """Scrape once: rows appended to the result file, console lines, and the result object."""
        if c.result_fixed:
            return c.early_result
        c.result_fixed, c.scraped = True, True
        stamp = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        tried, stop_line = self._tried(c)
        rows = []
        for url in tried:
            row, lines = scraper.scrape(url, stamp, self.faults, c.rng)
            rows.append(row)
            c.output.extend(lines)
        if stop_line:
            c.output.append(stop_line)
        c.record["tried"] = list(tried)
        crashed = c.plan.exit_code != 0 and c.plan.result != "partial"
        if c.plan.result == "null" or crashed:
            c.early_result = None
            return None
        result_file = self.store.get(c.agent_id, c.csv_name)
        result_file.add(rows)
        c.output.extend(views.saving_lines(self, c))
        # The script sets the whole JSON file as the result object (every launch's rows), unless
        # onlyCurrentJson; when that cannot be set it falls back to links to the files.
        current = c.argument.get("onlyCurrentJson") is True or self.faults["result_object_scope"] == "launch"
        text = json.dumps(rows if current else result_file.rows, ensure_ascii=False)
        if c.plan.result == "empty":
            text = "[]"
        limit = self.faults["result_object_max_chars"]
        if c.plan.result_files or (limit is not None and len(text) > limit):
            csv_url, json_url = views.file_urls(self, c, c.storage_base)
            text = scraper.files_pointer(csv_url, json_url, self.faults["result_files_csv_key"])
        c.early_result = text
        return text

    def _early_webhook(self, cid: str) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "running" or c.launched_at is None:
                return
            result = self._scrape(c)
            run_ms = round(c.plan.run_seconds * 1000)
            self._webhook(c, c.plan.end_type, c.plan.exit_code, result, run_ms)
            c.webhook_sent = True

    def _complete(self, cid: str) -> None:
        with self.lock:
            c = self.containers.get(cid)
            if c is None or c.status != "running" or not c.input_ready:
                return
            result = self._scrape(c)
            c.output.extend(views.end_lines(c))
            self._end(c, "finished", c.plan.end_type, c.plan.exit_code, result, planned=True)

    # -- the end ----------------------------------------------------------------------------------------

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
            self._maybe_retry(agent, c)
        if planned and c.webhook_sent:
            return
        if status == "launch error" and not self.faults["webhook_on_launch_error"]:
            return
        run_ms = round((now - c.launched_at) * 1000) if c.launched_at is not None else 0
        self._webhook(c, end_type, exit_code, result, run_ms)

    def _maybe_retry(self, agent: Agent, c: Container) -> None:
        """An agent with maxRetryNumber > 0 starts retry containers of its own after a failed one (not a stop)."""
        failed = c.status == "launch error" or c.exit_code != 0 or c.end_type not in ("finished", None)
        if not failed or c.end_type == "killed" or c.retry_number >= agent.max_retry_number:
            return
        request = LaunchRequest(agent.id, None, {}, False, "retry", None, c.user_custom_metadata, c.internal_metadata)
        delay = self.faults["retry_delay_seconds"]
        generation = self.generation

        def retry() -> None:
            with self.lock:
                if generation == self.generation and agent.id in self.agents:
                    self._create_container(
                        agent, c.argument, request, storage_base=c.storage_base, retry_number=c.retry_number + 1
                    )

        self.scheduler.call_later(delay, retry)

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
            "script": agent.script,
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
