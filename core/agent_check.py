"""The start-up check of the PhantomBuster agent: what to change in PhantomBuster before LeadRelay may use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from core.config import WEBHOOK_PATH
from core.errors import PhantomBusterError
from core.phantombuster import PhantomBusterClient
from core.phantombuster_answers import PROFILE_SCRAPER_SCRIPT, PROFILE_SCRAPER_SCRIPT_ID, AgentInfo


@dataclass(frozen=True, slots=True)
class AgentProblem:
    """One thing wrong with the agent: a stable code and a sentence saying what to change in PhantomBuster."""

    code: str
    message: str


def check_agent(
    client: PhantomBusterClient, public_base_url: str, *, webhook_secrets: Sequence[str] = ()
) -> list[AgentProblem]:
    """Fetch the configured agent (agents/fetch) and return its problems; [] when LeadRelay can use it.

    Raises PhantomBusterError when the agent cannot be fetched (wrong key or agent id, PhantomBuster down).
    """
    return check_agent_info(client.fetch_agent(), public_base_url, webhook_secrets=webhook_secrets)


def check_agent_info(
    agent: AgentInfo, public_base_url: str, *, webhook_secrets: Sequence[str] = ()
) -> list[AgentProblem]:
    """The problems of an agent already fetched (see `check_agent`)."""
    name = f"The PhantomBuster agent {agent.id}" + (f" ({agent.name})" if agent.name else "")
    problems: list[AgentProblem] = []
    if not agent.is_profile_scraper:
        runs = agent.script or f"script {agent.script_id}"
        problems.append(
            AgentProblem(
                "not_profile_scraper",
                f"{name} runs {runs}, not the LinkedIn Profile Scraper: set PHANTOMBUSTER_AGENT_ID to an agent made "
                f"from the LinkedIn Profile Scraper phantom ({PROFILE_SCRAPER_SCRIPT}, script "
                f"{PROFILE_SCRAPER_SCRIPT_ID}).",
            )
        )
    if agent.max_retry_number not in (None, 0):
        # PhantomBuster would start retry containers of its own after a failed run (launch type "retry"),
        # outside LeadRelay's slot and attempt counts; LeadRelay owns retries.
        problems.append(
            AgentProblem(
                "retries",
                f"{name} retries failed runs by itself ({agent.max_retry_number} times): in the agent's settings set "
                "the number of retries (maxRetryNumber) to 0; LeadRelay retries what needs retrying.",
            )
        )
    problems += _launch_problems(agent, name)
    problems += _webhook_problems(agent, name, public_base_url, webhook_secrets)
    return problems


def describe(problems: Sequence[AgentProblem]) -> str:
    """All problems as one text for a log line or the Admin health panel."""
    return " ".join(p.message for p in problems)


def _launch_problems(agent: AgentInfo, name: str) -> list[AgentProblem]:
    problems: list[AgentProblem] = []
    saved = agent.argument or {}
    # A saved spreadsheetUrl (or columnName, csvName, numberOfAddsPerLaunch) is not a problem for LeadRelay's
    # launches: every launch sends these in its bonusArgument, which PhantomBuster merges over the saved
    # argument (OAS agents/launch), and the phantom reads spreadsheetUrl before anything else (store script), so
    # the run's own batch wins. The saved argument only decides what a launch LeadRelay did not make scrapes,
    # which is why a scheduled agent is a problem, and why its message names the saved sheet.
    if agent.launch_type not in (None, "manually"):
        sheet = " (on the sheet saved in its argument)" if saved.get("spreadsheetUrl") else ""
        problems.append(
            AgentProblem(
                "scheduled",
                f"{name} launches by itself ({agent.launch_type}){sheet}, outside LeadRelay's queue and volume "
                "limits: set its launch to manual (Settings, 'Launch manually').",
            )
        )
    if agent.argument_error is not None:
        problems.append(
            AgentProblem(
                "argument",
                f"{name}: {agent.argument_error}, so LeadRelay's batch cannot be merged into it: open the agent's "
                "setup in PhantomBuster and save it again.",
            )
        )
    elif not _has_session(saved):
        problems.append(
            AgentProblem(
                "no_session",
                f"{name} has no LinkedIn session in its settings: connect a LinkedIn account (identity) or paste a "
                "session cookie in the agent's setup.",
            )
        )
    return problems


def _has_session(argument: dict[str, object]) -> bool:
    cookie = argument.get("sessionCookie")
    if isinstance(cookie, str) and cookie.strip():
        return True
    identities = argument.get("identities")
    return isinstance(identities, list) and any(
        isinstance(i, dict) and (i.get("identityId") or i.get("sessionCookie")) for i in identities
    )


def _webhook_problems(agent: AgentInfo, name: str, public_base_url: str, secrets: Sequence[str]) -> list[AgentProblem]:
    expected = public_base_url.rstrip("/") + WEBHOOK_PATH
    # The secret is never written into a message: it is shown as a placeholder.
    wanted = f"{expected}?secret=<PHANTOMBUSTER_WEBHOOK_SECRET>"
    if not agent.webhook_url:
        return [
            AgentProblem(
                "no_webhook",
                f"{name} has no webhook: in its settings (Advanced notification settings, webhook) set {wanted}.",
            )
        ]
    actual, want = urlsplit(agent.webhook_url.strip()), urlsplit(expected)
    if (actual.scheme, actual.netloc.lower(), actual.path.rstrip("/")) != (
        want.scheme,
        want.netloc.lower(),
        want.path.rstrip("/"),
    ):
        shown = f"{actual.scheme}://{actual.netloc}{actual.path}"
        return [
            AgentProblem(
                "webhook_elsewhere",
                f"{name} sends its webhook to {shown}, not to LeadRelay (PUBLIC_BASE_URL): set it to {wanted}.",
            )
        ]
    if secrets:
        given = parse_qs(actual.query).get("secret", [])
        if not any(s in secrets for s in given):
            return [
                AgentProblem(
                    "webhook_secret",
                    f"{name}'s webhook URL does not carry the current secret: set it to {wanted} with the value of "
                    "PHANTOMBUSTER_WEBHOOK_SECRET.",
                )
            ]
    return []


def refusal(client: PhantomBusterClient, public_base_url: str, *, webhook_secrets: Sequence[str] = ()) -> str | None:
    """Why the worker must not start with this agent, in sentences; None when it may (or PhantomBuster is down).

    An agent PhantomBuster refuses to show (a wrong key or agent id: 4xx) is a reason; an outage is not, since
    the worker would only wait for it; the Admin page shows the same check either way.
    """
    try:
        problems = check_agent(client, public_base_url, webhook_secrets=webhook_secrets)
    except PhantomBusterError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500:
            return f"LeadRelay cannot use the PhantomBuster agent: {exc.message}"
        return None
    return describe(problems) if problems else None
