"""Admin page: admins only; health; users created, disabled and re-roled (audited); dead runs; retention."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from core import auth, health, heartbeat, retention
from core.models import AuditEvent, Job, Run, User, utcnow
from tests.pages.conftest import rendered
from tests.support import factories

PAGE = "pages/admin.py"


@pytest.fixture(autouse=True)
def fresh_health_cache():
    health.clear_cache()
    yield
    health.clear_cache()


def test_analyst_cannot_open_admin(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = open_app(ana)
    # The navigation has no Admin page for an analyst ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    # ... and the page refuses on its own when run directly (as Streamlit may on a server's first run).
    direct = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=30)
    with app_db.write() as s:
        direct.session_state["auth_token"] = auth.start_session(s, ana, ttl_hours=1)
    direct.run()
    assert [rendered(e.value) for e in direct.error] == ["Only an admin can open this page."]
    assert not direct.get("table") and not direct.metric


def test_health_shows_heartbeat_and_unreachable_services(open_app, app_db):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
        heartbeat.beat(s, "worker", now=utcnow() - timedelta(seconds=3))
    at = open_app(root, PAGE)
    got = {m.label: (rendered(m.value), m.proto.delta) for m in at.metric}
    seconds, state = got["Worker heartbeat"]
    assert re.fullmatch(r"\d+ s ago", seconds) and 3 <= int(seconds.split()[0]) <= 20 and state == "alive"
    assert got["Last webhook received"][0] == "—"
    assert got["Queue server"][0] == "unreachable"  # nothing listens on the test's REDIS_URL
    assert got["PhantomBuster"][0] == "unreachable"


def test_create_disable_and_change_role_are_audited(open_app, app_db):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
    at = open_app(root, PAGE)
    at.text_input(key="new_user_name").input("kari")
    at.text_input(key="new_user_password").input("kari-password")
    at.selectbox(key="new_user_role").set_value("analyst")
    at.button(key="FormSubmitter:create_user-Create user").click().run()
    assert not at.error, [rendered(e.value) for e in at.error]
    assert "kari" in [rendered(n) for n in at.table[0].value["name"]]
    with app_db.read() as s:
        kari = s.scalar(select(User).where(User.name == "kari"))
        assert auth.authenticate(s, "kari", "kari-password", sleep=False).id == kari.id
    at.selectbox(key="admin_user").set_value(kari.id).run()
    at.segmented_control(key=f"role_{kari.id}").set_value("admin").run()
    at.button(key="save_role").click().run()
    at.button(key="toggle_user").click().run()
    with app_db.read() as s:
        kari = s.get(User, kari.id)
        assert (kari.role, kari.disabled) == ("admin", True)
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["user_created", "user_role_changed", "user_disabled"]


def test_admin_cannot_lock_themself_out(open_app, app_db):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
    at = open_app(root, PAGE)
    at.selectbox(key="admin_user").set_value(root.id).run()
    at.button(key="toggle_user").click().run()
    assert any("cannot disable your own account" in rendered(e.value) for e in at.error)


def test_dead_letter_retry(open_app, app_db, rings):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
        job = factories.job(s, root, {"Acme": 2}, batch_size=2)
        s.execute(
            update(Run).values(status="failed", dead_reason="The LinkedIn session cookie expired.", ended_at=utcnow())
        )
        run_id = s.scalar(select(Run.id))
    at = open_app(root, PAGE)
    assert any("The LinkedIn session cookie expired." in rendered(m.value) for m in at.markdown)
    at.button(key=f"retry_run_{run_id}").click().run()
    assert ("dispatch",) in rings.calls
    with app_db.read() as s:
        assert s.get(Run, run_id).status == "pending"
        assert s.get(Job, job.id).status == "running"


def test_retention_tab_says_what_was_removed(open_app, app_db):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
        old = factories.job(s, root, {"Acme": 3}, file_name="old.csv")
        s.execute(
            update(Job).where(Job.id == old.id).values(status="completed", finished_at=utcnow() - timedelta(days=9))
        )
    at = open_app(root, PAGE)
    assert any(rendered(c.value) == "Nothing has been removed yet." for c in at.caption)
    with app_db.write() as s:
        retention.clean_up(s, 7, 30)
    at.run()
    row = at.table[-1].value.iloc[0]
    assert (row["jobs removed"], row["leads"], row["job ids"]) == (1, 3, f"#{old.id}")


def test_a_dead_session_is_a_banner_for_admins_a_reason_for_analysts_and_one_click_to_resume(
    open_app, app_db, rings, settings
):
    from core import accounts

    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
        ana = factories.user(s, "ana")
        factories.job(s, ana, {"Acme": 2}, file_name="waiting.xlsx")
        account = accounts.current(s, settings)
        accounts.pause(
            s, account, accounts.Hold.SESSION, "LinkedIn refused the session cookie (exit 83)", utcnow(), "w"
        )
    analyst = open_app(ana, "pages/task_manager.py")
    captions = " ".join(rendered(c.value) for c in analyst.caption)
    assert "Waiting for the LinkedIn session to be renewed" in captions
    assert not any("Reconnect LinkedIn" in rendered(w.value) for w in analyst.warning)  # the banner is for admins
    for page in ("pages/upload.py", "pages/history.py", PAGE):
        at = open_app(root, page)
        assert any("Reconnect LinkedIn in PhantomBuster" in rendered(w.value) for w in at.warning), page
    at = open_app(root, PAGE)
    at.button(key="renewed").click().run()
    with app_db.read() as s:
        account = accounts.current(s, settings)
        assert account.paused_kind is None and account.ramp_start_share == settings.account_reconnect_share
        assert s.scalar(select(AuditEvent.details).where(AuditEvent.action == "session_renewed"))["by"] == "root"
    assert ("dispatch",) in rings.calls


def test_an_admin_edits_the_accounts_limits_and_a_bad_value_is_refused(open_app, app_db, settings):
    from core import accounts

    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
    at = open_app(root, PAGE)
    at.number_input(key="acc_per_day").set_value(1200)
    at.text_input(key="acc_zone").input("Europe/Oslo")
    at.button(key="FormSubmitter:account_limits-Save the limits").click().run()
    with app_db.read() as s:
        account = accounts.current(s, settings)
        assert (account.profiles_per_day, account.timezone) == (1200, "Europe/Oslo")
        change = s.scalar(select(AuditEvent.details).where(AuditEvent.action == "account_limits_changed"))
    assert change["changes"]["profiles_per_day"] == {"old": settings.account_defaults().profiles_per_day, "new": 1200}
    at.text_input(key="acc_zone").input("Mars/Olympus")
    at.button(key="FormSubmitter:account_limits-Save the limits").click().run()
    assert any("is not a time zone" in rendered(e.value) for e in at.error)
