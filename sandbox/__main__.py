"""Command line: `python -m sandbox --port 8010 ...` serves the PhantomBuster sandbox with uvicorn."""

from __future__ import annotations

import argparse
import json
import os
import sys

import uvicorn

from sandbox.app import create_app
from sandbox.faults import FaultError
from sandbox.simulator import Simulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags, each falling back to a SANDBOX_* environment variable."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Local PhantomBuster API v2 sandbox.")
    parser.add_argument("--host", default=env("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("SANDBOX_PORT", "8010")))
    parser.add_argument("--api-key", default=env("SANDBOX_API_KEY", "sandbox-key"))
    parser.add_argument("--agent-id", default=env("SANDBOX_AGENT_ID", "4000000000000001"))
    parser.add_argument("--agent-name", default=env("SANDBOX_AGENT_NAME", "LinkedIn Profile Scraper"))
    parser.add_argument("--webhook-url", default=env("SANDBOX_WEBHOOK_URL", ""), help="agent webhook (may be empty)")
    parser.add_argument("--faults", default=env("SANDBOX_FAULTS", ""), help="JSON object of fault knobs")
    parser.add_argument(
        "--timezone", default=env("SANDBOX_TIMEZONE", ""), help="the org's time zone in orgs/fetch (e.g. Europe/Oslo)"
    )
    parser.add_argument("--log-level", default=env("SANDBOX_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the simulator and serve it until interrupted."""
    args = parse_args(argv)
    try:
        faults = json.loads(args.faults) if args.faults.strip() else {}
        if args.timezone and isinstance(faults, dict):
            faults.setdefault("org_timezone", args.timezone)
        sim = Simulator(api_key=args.api_key, faults=faults)
    except (ValueError, FaultError) as exc:
        print(f"sandbox: bad --faults / SANDBOX_FAULTS: {exc}", file=sys.stderr)
        return 2
    sim.add_agent(args.agent_id, name=args.agent_name, webhook_url=args.webhook_url or None)
    # No access log: webhook URLs and `?key=` carry secrets in the query string.
    uvicorn.run(create_app(sim), host=args.host, port=args.port, access_log=False, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
