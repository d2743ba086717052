"""Notifications: where a person is told that a job of theirs completed, failed or waits for an admin."""

from __future__ import annotations

import streamlit as st

from core import notify_prefs
from pages.common import app, attempt, clock, page_user, plain, show_toasts

ctx = app()
user = page_user()
show_toasts()

EVENT_WORDS = {
    "job_completed": "job completed",
    "job_failed": "job failed",
    "job_needs_admin": "job waits for an admin",
    "account_paused": "account paused",
    "queue_stalled": "queue stalled",
    "webhooks_silent": "webhooks stopped",
    "test": "test message",
}
CHANNEL_WORDS = {"email": "e-mail", "slack": "Slack-compatible", "webhook": "webhook"}


def _status(item: notify_prefs.SentItem) -> str:
    if item.status == "pending":
        return "waiting to try again" if item.attempts else "queued"
    return {"sending": "sending", "sent": "sent", "gave_up": "given up"}.get(item.status, item.status)


st.title("Notifications")
st.caption(
    "Be told when a job of yours ends or waits for an admin, by e-mail and/or a webhook, so nobody has to watch "
    "the page. Each message has a link that opens the job."
)
view = notify_prefs.load(ctx.db, user)

with st.form("notify_settings", border=True):
    email = st.text_input("E-mail address", value=view.email, placeholder="you@example.com", key="notify_email")
    left, right = st.columns(2)
    with left:
        slack = st.text_input(
            "Slack-compatible incoming webhook URL",
            type="password",
            placeholder="https://hooks.slack.com/services/…",
            help='Slack, Mattermost, Rocket.Chat and others take a JSON body {"text": …} at such a URL. '
            "Leave the field empty to keep the saved one.",
            key="notify_slack",
        )
        if view.slack_hint:
            st.caption(f"Saved: {plain(view.slack_hint)}")
            drop_slack = st.checkbox("Remove the saved Slack-compatible webhook", key="notify_drop_slack")
        else:
            drop_slack = False
    with right:
        hook = st.text_input(
            "Outbound webhook URL (for other systems)",
            type="password",
            placeholder="https://example.com/hooks/leadrelay",
            help="LeadRelay posts a JSON body signed with X-LeadRelay-Signature: sha256=<HMAC-SHA256 of the body "
            "with your secret>. Leave the field empty to keep the saved one.",
            key="notify_hook",
        )
        if view.webhook_hint:
            st.caption(f"Saved: {plain(view.webhook_hint)}")
            drop_hook = st.checkbox("Remove the saved outbound webhook", key="notify_drop_hook")
        else:
            drop_hook = False
    st.markdown("**Tell me when**")
    on_completed = st.checkbox("a job of mine completes", value=view.on_completed, key="notify_on_completed")
    on_failed = st.checkbox("a job of mine fails", value=view.on_failed, key="notify_on_failed")
    on_needs_admin = st.checkbox(
        "a job of mine waits for an admin (the LinkedIn account is paused)"
        if not view.is_admin
        else "the LinkedIn account is paused, or a job of mine waits for an admin",
        value=view.on_needs_admin,
        key="notify_on_needs_admin",
    )
    on_stalls = False
    if view.is_admin:
        on_stalls = st.checkbox(
            "the queue stalls, or PhantomBuster's webhooks stop arriving",
            value=view.on_queue_stalls,
            key="notify_on_stalls",
        )
    submitted = st.form_submit_button("Save", type="primary", icon=":material/save:")

if submitted:
    saved = attempt(
        lambda: notify_prefs.save(
            ctx.db,
            ctx.settings,
            user,
            email=email,
            slack_url="" if drop_slack else (slack or notify_prefs.KEEP),
            webhook_url="" if drop_hook else (hook or notify_prefs.KEEP),
            on_completed=on_completed,
            on_failed=on_failed,
            on_needs_admin=on_needs_admin,
            on_queue_stalls=on_stalls,
        ),
        success="Notification settings saved.",
    )
    if saved is not None:
        if saved.new_secret:
            st.session_state["notify_new_secret"] = saved.new_secret
        for key in ("notify_slack", "notify_hook", "notify_drop_slack", "notify_drop_hook"):
            st.session_state.pop(key, None)
        st.rerun()

if secret := st.session_state.pop("notify_new_secret", None):
    with st.container(border=True, key="notify_secret"):
        st.warning(
            "Copy your webhook's signing secret now: it is shown this once only. Your receiver checks that "
            "X-LeadRelay-Signature equals sha256= and the hex HMAC-SHA256 of the raw body with this secret.",
            icon=":material/key:",
        )
        st.code(secret, language=None)

with st.container(horizontal=True):
    if st.button("Send a test message", icon=":material/send:", key="notify_test"):
        queued = attempt(lambda: notify_prefs.send_test(ctx.db, user))
        if queued is not None:
            st.success(f"{queued} test message(s) queued; they arrive within a few seconds.", icon=":material/send:")
    if view.webhook_hint and st.button("Make a new webhook secret", icon=":material/key:", key="notify_new_key"):
        new = attempt(lambda: notify_prefs.new_webhook_secret(ctx.db, user))
        if new is not None:
            st.session_state["notify_new_secret"] = new
            st.rerun()

st.subheader("Your latest messages")
items = notify_prefs.recent(ctx.db, user)
if not items:
    st.caption("No message yet.")
else:
    st.dataframe(
        [
            {
                "when": clock(item.at),
                "what": EVENT_WORDS.get(item.event, item.event),
                "channel": CHANNEL_WORDS.get(item.channel, item.channel),
                "status": _status(item),
                "tries": item.attempts,
                "problem": item.error or "",
            }
            for item in items
        ],
        hide_index=True,
        width="stretch",
    )
