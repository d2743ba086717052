"""The real stack plus a Streamlit server, and Debian's Chromium driven by Playwright (browser tests, screenshots)."""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from core import auth
from tests.support.services import RedisServer, free_port
from tests.support.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "password-123"
FAST_FAULTS = {"run_seconds": [0.3, 0.8], "seed": 11}


class AppServer:
    """Sandbox, webhook server, worker and `streamlit run streamlit_app.py` on free ports, one temp database."""

    def __init__(self, tmp: Path, database_url: str, redis: RedisServer, **settings: Any) -> None:
        self.stack = Stack(tmp, database_url, redis, **settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, faults: dict[str, Any] | None = None) -> AppServer:
        """Start every process and wait until Streamlit answers its health check."""
        self.stack.start(faults=FAST_FAULTS if faults is None else faults)
        argv = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        self.stack._spawn("streamlit", argv, self.port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/_stcore/health", timeout=2).text.strip() == "ok":
                    return self
            time.sleep(0.1)
        raise TimeoutError(f"Streamlit did not become healthy:\n{self.stack.log('streamlit')[-3000:]}")

    def add_user(self, name: str, role: str = "analyst", password: str = PASSWORD) -> int:
        """Create a local account straight in the database."""
        with self.stack.db.write() as session:
            return auth.create_user(session, name, password, role).id

    def stop(self) -> None:
        self.stack.stop()


def write_leads_csv(path: Path, companies: dict[str, int], bad_rows: int = 0) -> Path:
    """A small lead file: `n` leads per company, and a few rows without a valid LinkedIn URL."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First Name", "Last Name", "Company", "LinkedIn URL", "Email"])
        for c, (company, n) in enumerate(companies.items()):
            for i in range(n):
                slug = f"{path.stem}-{c}-{i}".lower().replace("_", "-")
                writer.writerow([f"Person{i}", f"Nordmann{c}", company, f"https://www.linkedin.com/in/{slug}", ""])
        for i in range(bad_rows):
            writer.writerow([f"Broken{i}", "Row", "Acme", "not a profile url", ""])
    return path


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, base_url: str, name: str, password: str = PASSWORD) -> None:
    """Open the app and sign in through the form; waits for the sidebar greeting."""
    page.goto(base_url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=20_000)
    deadline = time.monotonic() + 10
    while not any(c["name"] == "leadrelay_session" and c["value"] for c in page.context.cookies()):
        if time.monotonic() > deadline:
            raise AssertionError("the sign-in cookie was never written")
        time.sleep(0.05)


def go(page: Any, title: str) -> None:
    """Open a page from the sidebar navigation and wait for its title."""
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title if title != "Upload" else "Upload a lead file").first.wait_for(
        timeout=20_000
    )


def settled(page: Any) -> None:
    """Wait until Streamlit has finished the run a widget change started (its status widget says "Running")."""
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
