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
PLAN = {
    "name": "Pro",
    "parallelism": 5,
    "agents": 15,
    "scripts": 15,
    "dailyExecutionTime": 28_800,
    "monthlyExecutionTime": 288_000,
    "dailyMails": 500,
    "monthlyMails": 10_000,
    "dailyCaptcha": 100,
    "dailyDiscoveredMail": 500,
    "dailyAiCredit": 1_000,
    "dailySerpCredits": 1_000,
    "s3Storage": 10_737_418_240,
}
MONTH_BEFORE_START = 43_200  # execution seconds "already used this month" when the sandbox starts


def _folder(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:22]


def _running(sim: Simulator, agent_id: str) -> int:
    return sum(1 for cid in sim.active if sim.containers[cid].agent_id == agent_id)


def agent_json(sim: Simulator, agent: Agent) -> dict[str, Any]:
    """`agents/fetch`: the §2.3 fields, plus nbContainersRunning."""
    with sim.lock:
        return {
            "id": agent.id,
            "name": agent.name,
            "scriptOrgName": "phantombuster",
            "scriptId": "3112",
            "script": SCRIPT,
            "branch": "master",
            "environment": "release",
            "argument": json.dumps(agent.argument),
            "lastEndType": agent.last_end_type,
            "lastEndedAt": ms(agent.last_ended_at),
            "lastExitCode": agent.last_exit_code,
            "manifest": None,
            "executionTimeLimit": None,
            "fileMgmt": "mix",
            "fileMgmtMaxFolders": 10,
            "maxParallelism": sim.parallelism(agent),
            "maxRetryNumber": 0,
            "notifications": {**NOTIFICATION_DEFAULTS, **agent.notifications},
            "proxyType": "none",
            "launchType": "manually",
            "lastNonManualLaunchType": None,
            "nbLaunches": agent.nb_launches,
            "nbContainersRunning": _running(sim, agent.id),
            "s3Folder": _folder(agent.id),
            "orgS3Folder": _folder("org"),
            "createdAt": ms(agent.created_at),
            "updatedAt": ms(agent.updated_at),
            "internalMetadata": None,
            "userCustomMetadata": None,
        }


def agents_json(sim: Simulator) -> list[dict[str, Any]]:
    """`agents/fetch-all`: an array of agents with nbContainersRunning and runningTime."""
    with sim.lock:
        out = []
        for agent in sim.agents.values():
            item = agent_json(sim, agent)
            item["runningTime"] = round(_execution_seconds(sim, agent.id))
            out.append(item)
        return out


def container_json(sim: Simulator, c: Container, flags: dict[str, bool] | None = None) -> dict[str, Any]:
    """`containers/fetch` (§2.6); endedAt, endType and exitCode appear once the container has ended."""
    flags = flags or {}
    with sim.lock:
        out: dict[str, Any] = {
            "id": c.id,
            "agentId": c.agent_id,
            "status": c.status,
            "createdAt": ms(c.created_at),
            "launchedAt": ms(c.launched_at),
            "launchType": c.launch_type,
            "retryNumber": 0,
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
            out["olderContainerId"] = same[index - 1].id if index > 0 else None
            out["newerContainerId"] = same[index + 1].id if index + 1 < len(same) else None
        return out


def containers_json(
    sim: Simulator, agent_id: str, limit: int, mode: str, before_ended_at: int | None
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
        page = [container_json(sim, c, {"withRuntimeEvents": True}) for c in items[:limit]]
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
            return {
                "containerId": None,
                "status": "never launched",
                "output": "",
                "outputPos": 0,
                "progress": None,
                "progressLabel": None,
                **base,
            }
        c = max(mine, key=lambda x: x.seq)
        text = output_text(c)
        start = 0 if prev_container not in (None, c.id) else (from_pos or 0)
        if start < 0 or start > len(text):
            raise ApiError(400, "Invalid output position provided.", "invalidOutputPosition")
        progress = 1.0 if c.status not in ACTIVE else 0.0
        if c.status == "running" and c.launched_at is not None and c.plan.run_seconds > 0:
            progress = min(0.99, (sim.clock() - c.launched_at) / c.plan.run_seconds)
        return {
            "containerId": c.id,
            "status": c.status,
            "output": text[start:],
            "outputPos": len(text),
            "progress": round(progress, 3),
            "progressLabel": f"{len(c.profile_urls)} profile(s)",
            **base,
        }


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
    """`orgs/fetch`: a minimal org with its plan."""
    return {
        "id": "4000000000000000",
        "name": "LeadRelay Sandbox",
        "timezone": "UTC",
        "s3Folder": _folder("org"),
        "planSlug": "pro-monthly",
        "plan": dict(PLAN),
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
                    "retryNumber": 0,
                    "launchType": c.launch_type,
                    "scriptSlug": "linkedin-profile-scraper",
                }
                for c in items
            ]
        }


def running_lines(c: Container) -> list[str]:
    """Console lines printed when the container starts running."""
    lines = [
        f"ℹ️ Phantom launched: LinkedIn Profile Scraper (container {c.id})",
        "ℹ️ Connecting to LinkedIn with the session cookie...",
    ]
    if c.plan.exit_code != 87:
        lines.append("✅ Connected to LinkedIn as Sandbox User")
    return lines


def end_lines(c: Container, result: str | None) -> list[str]:
    """Console lines printed when the container ends as planned."""
    code = c.plan.exit_code
    if code == 87:
        return [
            "❌ Session cookie not valid anymore. Please log in to LinkedIn to get a new session cookie.",
            "❌ Can't connect to LinkedIn with this session cookie.",
            "Process finished with an error (exit code: 87)",
        ]
    rows = json.loads(result) if result else []
    lines = [f"ℹ️ Scraping profile {i}/{len(c.profile_urls)}: {row.get('query')}" for i, row in enumerate(rows, 1)]
    lines += [f"⚠️ {row['query']}: {row['error']}" for row in rows if "error" in row]
    if c.plan.end_type == "agent timeout":
        return [
            *lines,
            "⚠️ Maximum run time reached: the agent was stopped",
            f"Process finished with an error (exit code: {code})",
        ]
    if code != 0:
        return [
            *lines,
            "❌ Unexpected error: the phantom crashed",
            f"Process finished with an error (exit code: {code})",
        ]
    if result is None:
        return [
            "⚠️ Nothing to do: every profile of the input was already processed",
            "Process finished successfully (exit code: 0)",
        ]
    if not rows:
        lines.append("⚠️ No profile could be scraped from the input")
    return [
        *lines,
        "✅ Data successfully saved",
        f"✅ JSON saved at https://phantombuster.s3.amazonaws.com/{_folder('org')}/{_folder(c.agent_id)}/result.json",
        "Process finished successfully (exit code: 0)",
    ]
