"""Screenshots of every page into docs/screenshots/, taken from a real stack with the browser-test setup.

Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import Database  # noqa: E402
from core.schema import migrate  # noqa: E402
from tests.browser.harness import AppServer, browser, go, sign_in, write_leads_csv  # noqa: E402
from tests.support.services import RedisServer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZE = {"width": 1280, "height": 900}


def _import(server: AppServer, path: Path, owner: str, batch: int) -> int:
    result = server.stack.cli("import", str(path), "--owner", owner, "--batch-size", str(batch))
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return int(result.stdout.split()[1])


def _scroll_to(page, text: str) -> None:
    page.get_by_text(text, exact=True).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    time.sleep(1.5)  # smooth scrolling ends in about a second; the picture waits for it


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="leadrelay-shots-"))
    db_path = tmp / "leadrelay.db"
    db = Database(f"sqlite:///{db_path}")
    migrate(db)
    db.dispose()
    redis = RedisServer(tmp / "redis")
    server = AppServer(tmp, f"sqlite:///{db_path}", redis, expected_run_seconds=6)
    try:
        server.start(faults={"run_seconds": [1.0, 2.0], "exit_codes": {"1": 0.3}, "seed": 5})
        for name, role in (("ana", "analyst"), ("ole", "analyst"), ("root", "admin")):
            server.add_user(name, role)
        done = _import(
            server,
            write_leads_csv(tmp / "nordics-q3.csv", {"VING NORGE AS": 5, "Acme Oy": 4, "Beta AB": 3}),
            "ana",
            3,
        )
        other = _import(server, write_leads_csv(tmp / "dach-leads.csv", {"Gamma GmbH": 6, "Delta AG": 4}), "ole", 4)
        server.stack.wait_job(done, 60)
        server.stack.wait_job(other, 60)
        server.stack.set_faults({"run_seconds": [5.0, 8.0], "exit_codes": {}})
        _import(
            server,
            write_leads_csv(tmp / "benelux-2026.csv", {"Epsilon BV": 8, "Zeta NV": 8, "Eta SA": 4}),
            "ana",
            4,
        )
        _import(server, write_leads_csv(tmp / "uk-retail.csv", {"Theta Ltd": 6, "Iota plc": 4}), "ole", 5)

        with browser() as b:
            ana = b.new_context(viewport=SIZE).new_page()
            ana.goto(server.url)
            ana.get_by_label("User name").wait_for()
            time.sleep(0.5)
            ana.screenshot(path=str(OUT / "sign-in.png"))

            sign_in(ana, server.url, "ana")
            upload = write_leads_csv(
                tmp / "scandinavia-prospects.csv", {"VING NORGE AS": 9, "Acme Oy": 7, "Nordic Tech AS": 6}, bad_rows=3
            )
            ana.locator("input[type=file]").set_input_files(str(upload))
            ana.get_by_text("Validation report").wait_for()
            _scroll_to(ana, "Validation report")
            ana.screenshot(path=str(OUT / "upload.png"))

            admin = b.new_context(viewport=SIZE).new_page()
            sign_in(admin, server.url, "root")
            go(admin, "Task Manager")
            admin.get_by_text("running for").first.wait_for(timeout=60_000)
            time.sleep(2)  # let the progress bars draw their first refresh, for the picture only
            admin.screenshot(path=str(OUT / "task-manager.png"))

            go(admin, "History")
            admin.get_by_label("Open job #").fill(str(done))
            admin.get_by_label("Open job #").press("Enter")
            admin.get_by_text(f"#{done} · nordics-q3.csv").wait_for()
            _scroll_to(admin, "Search")
            admin.screenshot(path=str(OUT / "history.png"))

            go(admin, "Admin")
            admin.get_by_text("Worker heartbeat").wait_for()
            time.sleep(1.5)  # the charts fade in; a picture taken at once shows them half drawn
            admin.screenshot(path=str(OUT / "admin.png"))

            go(admin, "Notifications")
            admin.get_by_label("E-mail address").wait_for()
            admin.get_by_text("Your latest messages").wait_for()
            admin.screenshot(path=str(OUT / "notifications.png"))
        print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))
    finally:
        server.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
