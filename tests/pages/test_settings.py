"""The notification settings page, and a notification's link opening History on the job (only one's own)."""

from __future__ import annotations

from sqlalchemy import select

from core.notify_tables import NotificationPrefs, OutboxMessage
from tests.pages.conftest import rendered
from tests.support import factories

PAGE = "pages/settings.py"


def test_saving_channels_shows_the_webhook_secret_once(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = open_app(ana, PAGE)
    at.text_input(key="notify_email").input("ana@example.com")
    at.text_input(key="notify_slack").input("http://127.0.0.1:9/services/T/B/secret-token-wxyz")
    at.text_input(key="notify_hook").input("http://127.0.0.1:9/hooks/leadrelay")
    at.checkbox(key="notify_on_completed").uncheck()
    at.button[0].click()  # the form's Save
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with app_db.read() as s:
        prefs = s.get(NotificationPrefs, ana.id)
    assert prefs.email == "ana@example.com" and not prefs.on_completed and prefs.on_failed
    assert prefs.webhook_secret and [c.value for c in at.code] == [prefs.webhook_secret]
    shown = " ".join(rendered(m.value) for m in at.caption)
    assert "http://127.0.0.1/…wxyz" in shown and "secret-token" not in shown
    # Any later run shows the secret no more.
    at.run()
    assert [c.value for c in at.code] == []


def test_a_bad_address_is_refused_with_a_sentence_and_nothing_saved(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = open_app(ana, PAGE)
    at.text_input(key="notify_email").input("not an address")
    at.button[0].click()
    at.run()
    assert "not an e-mail address" in rendered(at.error[0].value)
    with app_db.read() as s:
        assert s.get(NotificationPrefs, ana.id) is None


def test_a_test_message_is_queued_on_each_channel(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = open_app(ana, PAGE)
    at.button(key="notify_test").click().run()
    assert "Set an e-mail address" in rendered(at.error[0].value)
    at.text_input(key="notify_email").input("ana@example.com")
    at.button[0].click()
    at.run()
    at.button(key="notify_test").click().run()
    with app_db.read() as s:
        rows = list(s.scalars(select(OutboxMessage)))
    assert [(r.event, r.channel, r.user_id) for r in rows] == [("test", "email", ana.id)]
    assert "test message" in at.dataframe[0].value["what"].tolist()


def test_a_notification_link_opens_the_job_and_never_a_colleagues(open_app, app_db):
    with app_db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        mine = factories.job(s, ana, {"Acme": 2}, file_name="mine.xlsx")
        theirs = factories.job(s, ole, {"Beta": 2}, file_name="ole-secret.xlsx")
    at = open_app(ana)
    at.query_params["job"] = str(mine.id)
    at.switch_page("pages/history.py").run()
    assert any(f"#{mine.id} · mine.xlsx" in rendered(m.value) for m in at.markdown)
    assert "job" not in at.query_params  # opened once; picking another row is not overridden
    at = open_app(ana)
    at.query_params["job"] = str(theirs.id)
    at.switch_page("pages/history.py").run()
    assert f"No job #{theirs.id} is visible to you." in rendered(at.error[0].value)
    assert not any("ole-secret" in rendered(m.value) for m in at.markdown)
    for junk in ("²", "-1", "9" * 40):
        at = open_app(ana)
        at.query_params["job"] = junk
        at.switch_page("pages/history.py").run()
        assert not at.exception and not at.error
