"""JSON shapes of the sandbox's agents, containers and org (PhantomBuster API v2 fields), plus console lines."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.models import ACTIVE, SCRIPT, Agent, ApiError, Container, ms

if TYPE_CHECKING:
    from sandbox.simulator import Simulator

NOTIFICATION_DEFAULTS = {
    "mailAutomaticExitSuccess": False,
    "mailAutomaticExitError": True,
    "mailAutomaticLaunchError": True,
    "mailAutomaticTimeError": True,
    "mailManualExitSuccess": False,
    "mailManualExitError": False,
    "slackWebHook": "",
    "slackAutomaticExitSuccess": False,
    "slackAutomaticExitError": False,
    "webhook": "",
}
# orgs/fetch and orgs/fetch-resources `plan`: the OAS names its allowances in the plural (dailyCaptchas...).
PLAN = {
    "name": "Pro",
    "s3Storage": 10_737_418_240,
    "mongoStorage": 1_073_741_824,
    "parallelism": 5,
    "agents": 15,
    "scripts": 15,
    "dailyExecutionTime": 28_800,
    "dailyMails": 500,
    "dailyCaptchas": 100,
    "dailyDiscoveredMails": 500,
    "dailyAiCredits": 1_000,
    "dailySerpCredits": 1_000,
    "monthlyExecutionTime": 288_000,
    "monthlyMails": 10_000,
    "monthlyCaptchas": 3_000,
    "monthlyDiscoveredMails": 10_000,
    "monthlyAiCredits": 20_000,
    "monthlySerpCredits": 20_000,
    "isAvailable": True,
    "isUpgradable": True,
    "duration": 1,
    "monthlyPrice": 159,
    "yearlyPrice": 1_344,
}
MONTH_BEFORE_START = 43_200  # execution seconds "already used this month" when the sandbox starts
ORG_ID = "4000000000000000"
ORG_CREATED_AT = 1_690_000_000_000
S3_HOST = "https://phantombuster.s3.amazonaws.com"
STORAGE_ROUTE = "/phantombuster-s3"


def _folder(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:22]


def _running(sim: Simulator, agent_id: str) -> int:
    return sum(1 for cid in sim.active if sim.containers[cid].agent_id == agent_id)


def _present(item: dict[str, Any]) -> dict[str, Any]:
    # Nullable enums (lastEndType...) list no null value, so a field without a value is left out, not null.
    return {k: v for k, v in item.items() if v is not None or k in _NULLABLE}


_NULLABLE = frozenset(
    {"argument", "executionTimeLimit", "expireAt", "internalMetadata", "userCustomMetadata", "lastEndedAt"}
    | {"lastExitCode", "runningTime", "launchedAt", "exitCode", "output", "resultObject", "planShouldCancelAt"}
)


def agent_json(sim: Simulator, agent: Agent) -> dict[str, Any]:
    """`agents/fetch` (IAgentFetch): no nbContainersRunning, lastExitCode, lastEndedAt nor createdAt there."""
    with sim.lock:
        return _present(
            {
                "id": agent.id,
                "name": agent.name,
                "scriptOrgName": "phantombuster",
                "scriptId": agent.script_id,
                "script": agent.script,
                "branch": "master",
                "environment": "release",
                "argument": json.dumps(agent.argument),
                "lastEndType": agent.last_end_type,
                "executionTimeLimit": None,
                "fileMgmt": "mix",
                "fileMgmtMaxFolders": 10,
                "maxParallelism": sim.parallelism(agent),
                "maxRetryNumber": agent.max_retry_number,
                "notifications": {**NOTIFICATION_DEFAULTS, **agent.notifications},
                "proxyType": "none",
                "launchType": agent.launch_type,
                "nbLaunches": agent.nb_launches,
                "s3Folder": _folder(agent.id),
                "orgS3Folder": _folder("org"),
                "updatedAt": ms(agent.updated_at),
                "expireAt": None,
                "internalMetadata": None,
                "userCustomMetadata": None,
            }
        )


def agents_json(
    sim: Simulator, agent_ids: list[str] | None = None, with_argument: bool = False
) -> list[dict[str, Any]]:
    """`agents/fetch-all`: an array of agents with createdAt, nbContainersRunning, runningTime, last end."""
    with sim.lock:
        out = []
        for agent in sim.agents.values():
            if agent_ids and agent.id not in agent_ids:
                continue
            item = {
                "id": agent.id,
                "name": agent.name,
                "createdAt": ms(agent.created_at),
                "scriptOrgName": "phantombuster",
                "scriptId": agent.script_id,
                "script": agent.script,
                "branch": "master",
                "environment": "release",
                "lastEndType": agent.last_end_type,
                "lastEndedAt": ms(agent.last_ended_at),
                "lastExitCode": agent.last_exit_code,
                "nbContainersRunning": _running(sim, agent.id),
                "runningTime": round(_execution_seconds(sim, agent.id)),
                "launchType": agent.launch_type,
                "s3Folder": _folder(agent.id),
                "expireAt": None,
                "internalMetadata": None,
                "userCustomMetadata": None,
            }
            if with_argument:
                item["argument"] = json.dumps(agent.argument)
            out.append(_present(item))
        return out


def container_json(
    sim: Simulator, c: Container, flags: dict[str, bool] | None = None, status: str | None = None
) -> dict[str, Any]:
    """`containers/fetch` (§2.6), no agentId; endedAt, endType and exitCode appear once it has ended."""
    flags = flags or {}
    with sim.lock:
        out: dict[str, Any] = {
            "id": c.id,
            "status": status or c.status,
            "createdAt": ms(c.created_at),
            "launchedAt": ms(c.launched_at),
            "launchType": c.launch_type,
            "retryNumber": c.retry_number,
            "userCustomMetadata": c.user_custom_metadata,
            "internalMetadata": c.internal_metadata,
        }
        if c.ended_at is not None:
            out.update(endedAt=ms(c.ended_at), endType=c.end_type, exitCode=c.exit_code)
        if flags.get("withResultObject"):
            out["resultObject"] = c.result_object
        if flags.get("withOutput"):
            out["output"] = output_text(c) or None
        if flags.get("withRuntimeEvents"):
            out["runtimeEvents"] = []
        if flags.get("withNewerAndOlderContainerId"):
            same = sorted((x for x in sim.containers.values() if x.agent_id == c.agent_id), key=lambda x: x.seq)
            index = same.index(c)
            if index > 0:
                out["olderContainerId"] = same[index - 1].id
            if index + 1 < len(same):
                out["newerContainerId"] = same[index + 1].id
        return out


def _list_item(c: Container, with_events: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": c.id,
        "status": c.status,
        "createdAt": ms(c.created_at),
        "launchType": c.launch_type,
        "retryNumber": c.retry_number,
        "internalMetadata": c.internal_metadata,
        "userCustomMetadata": c.user_custom_metadata,
    }
    if c.ended_at is not None:
        item.update(endType=c.end_type, endedAt=ms(c.ended_at), exitCode=c.exit_code)
    if with_events:
        item["runtimeEvents"] = []
    return item


def containers_json(
    sim: Simulator, agent_id: str, limit: int, mode: str, before_ended_at: int | None, with_events: bool = False
) -> dict[str, Any]:
    """`containers/fetch-all`: newest first, `maxLimitReached` when more than `limit` matched."""
    with sim.lock:
        sim.get_agent(agent_id)
        items = [c for c in sim.containers.values() if c.agent_id == agent_id]
        if mode == "finalized" or before_ended_at is not None:
            items = [c for c in items if c.status not in ACTIVE]
        if before_ended_at is not None:
            items = [c for c in items if (ms(c.ended_at) or 0) < before_ended_at]
        items.sort(key=lambda c: c.seq, reverse=True)
        page = [_list_item(c, with_events) for c in items[:limit]]
        return {"maxLimitReached": len(items) > limit, "containers": page}


def output_text(c: Container) -> str:
    """The console output so far."""
    return "".join(line + "\n" for line in c.output)


def agent_output_json(
    sim: Simulator, agent_id: str, from_pos: int | None, prev_container: str | None
) -> dict[str, Any]:
    """`agents/fetch-output`: the most recent container's output from `fromOutputPos` on."""
    with sim.lock:
        agent = sim.get_agent(agent_id)
        mine = [c for c in sim.containers.values() if c.agent_id == agent.id]
        ended = [ms(c.ended_at) or 0 for c in mine if c.ended_at is not None]
        base: dict[str, Any] = {
            "mostRecentEndedAt": max(ended) if ended else None,
            "runtimeEvents": [],
            "isAgentRunning": _running(sim, agent.id) > 0,
            "canSoftAbort": False,
        }
        if not mine:
            return _present({"status": "never launched", "output": "", "outputPos": 0, **base})
        c = max(mine, key=lambda x: x.seq)
        text = output_text(c)
        start = 0 if prev_container not in (None, c.id) else (from_pos or 0)
        if start < 0 or start > len(text):
            raise ApiError(400, "Invalid output position provided.", "invalidOutputPosition")
        progress = 1.0 if c.status not in ACTIVE else 0.0
        if c.status == "running" and c.launched_at is not None and c.plan.run_seconds > 0:
            progress = min(0.99, (sim.clock() - c.launched_at) / c.plan.run_seconds)
        return _present(
            {
                "containerId": c.id,
                "status": c.status,
                "output": text[start:],
                "outputPos": len(text),
                "progress": round(progress, 3),
                "progressLabel": f"{len(c.profile_urls)} profile(s)",
                **base,
            }
        )


def _execution_seconds(sim: Simulator, agent_id: str | None = None) -> float:
    now = sim.clock()
    total = 0.0
    for c in sim.containers.values():
        if c.launched_at is not None and (agent_id is None or c.agent_id == agent_id):
            total += (c.ended_at if c.ended_at is not None else now) - c.launched_at
    return total


def resources_json(sim: Simulator) -> dict[str, Any]:
    """`orgs/fetch-resources`: execution time used (seconds, growing with run time) and the plan's allowance."""
    with sim.lock:
        used = _execution_seconds(sim)
        agent_count = len(sim.agents)
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return {
        "dailyExecutionTime": round(used),
        "monthlyExecutionTime": MONTH_BEFORE_START + round(used),
        "dailyMail": 0,
        "monthlyMail": 0,
        "dailyCaptcha": 0,
        "monthlyCaptcha": 0,
        "dailyDiscoveredMail": 0,
        "monthlyDiscoveredMail": 0,
        "dailyAiCredit": 0,
        "monthlyAiCredit": 0,
        "dailySerpCredits": 0,
        "monthlySerpCredits": 0,
        "s3Storage": 52_428_800,
        "agentCount": agent_count,
        "planName": PLAN["name"],
        "plan": dict(PLAN),
        "dailyResourceNextResetAt": round(tomorrow.timestamp() * 1000),
        "monthlyResourceNextResetAt": round(next_month.timestamp() * 1000),
        "planShouldCancelAt": None,
    }


def org_json(sim: Simulator) -> dict[str, Any]:
    """`orgs/fetch`: the org with its plan and `timezone` (knob `org_timezone`, `--timezone`)."""
    with sim.lock:
        used = _execution_seconds(sim)
        timezone = sim.faults["org_timezone"]
    return {
        "id": ORG_ID,
        "name": "leadrelay-sandbox",
        "displayName": "LeadRelay Sandbox",
        "dailyExecutionTime": round(used),
        "dailyMail": 0,
        "dailyCaptcha": 0,
        "dailyDiscoveredMail": 0,
        "dailyAiCredit": 0,
        "s3Storage": 52_428_800,
        "s3Folder": _folder("org"),
        "planSlug": "pro-monthly",
        "planStartedAt": ORG_CREATED_AT,
        "timezone": timezone,
        "createdAt": ORG_CREATED_AT,
        "plan": dict(PLAN),
        "billingFirstName": None,
        "billingLastName": None,
        "planShouldCancelAt": None,
    }


def running_containers_json(sim: Simulator) -> dict[str, Any]:
    """`orgs/fetch-running-containers`."""
    with sim.lock:
        items = sorted((sim.containers[cid] for cid in sim.active), key=lambda c: c.seq)
        return {
            "containers": [
                {
                    "id": c.id,
                    "agentId": c.agent_id,
                    "agentName": sim.agents[c.agent_id].name if c.agent_id in sim.agents else "",
                    "createdAt": ms(c.created_at),
                    "retryNumber": c.retry_number,
                    "launchType": c.launch_type,
                    # The OAS pattern is a script file name ("LinkedIn Profile Scraper.js"), not a slug.
                    "scriptSlug": sim.agents[c.agent_id].script if c.agent_id in sim.agents else SCRIPT,
                }
                for c in items
            ]
        }


def running_lines(c: Container) -> list[str]:
    """Console lines printed when the container starts running."""
    return [f"ℹ️ Phantom launched: LinkedIn Profile Scraper (container {c.id})"]


def file_urls(sim: Simulator, c: Container, base: str) -> tuple[str, str]:
    """The result files' links under `base` (the S3 host in the console; the sandbox in result objects)."""
    folder = f"{base}{'' if base == S3_HOST else STORAGE_ROUTE}/{_folder('org')}/{_folder(c.agent_id)}"
    return f"{folder}/{c.csv_name}.csv", f"{folder}/{c.csv_name}.json"


def saving_lines(sim: Simulator, c: Container) -> list[str]:
    """`saveResults`' lines: the result files, named after csvName."""
    csv_url, json_url = file_urls(sim, c, S3_HOST)
    return [
        "🔄 Saving data...",
        f"✅ CSV saved at {csv_url}",
        f"✅ JSON saved at {json_url}",
        "✅ Data successfully saved!",
    ]


def result_file_text(sim: Simulator, org: str, agent_folder: str, name: str) -> tuple[str, str] | None:
    """(text, media type) of `<csvName>.csv|.json` in an agent's folder, or None when there is no such file."""
    base, dot, ext = name.rpartition(".")
    if not dot or ext not in ("csv", "json") or org != _folder("org"):
        return None
    with sim.lock:
        agent = next((a for a in sim.agents.values() if _folder(a.id) == agent_folder), None)
        found = sim.store.find(agent.id, base) if agent is not None else None
        if found is None:
            return None
        return (found.csv_text(), "text/csv") if ext == "csv" else (found.json_text(), "application/json")


def end_lines(c: Container) -> list[str]:
    """Console lines printed when the container ends as planned (after the scraping and saving lines)."""
    code = c.plan.exit_code
    if c.plan.end_type == "agent timeout":
        return [
            "⚠️ Maximum run time reached: the agent was stopped",
            f"Process finished with an error (exit code: {code})",
        ]
    if code != 0:
        return ["❌ Unexpected error: the phantom crashed", f"Process finished with an error (exit code: {code})"]
    return ["Process finished successfully (exit code: 0)"]
