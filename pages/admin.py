"""Admin: system health, users, dead-letter runs and retention."""

from __future__ import annotations

import streamlit as st

from core import accounts, board, health, pacing, queue_controls, read_models, users
from core.models import Role, utcnow
from pages.common import REFRESH_SECONDS, ago, app, attempt, clock, duration, page_user, plain, show_toasts

ctx = app()
user = page_user()
if user.role != Role.ADMIN:
    st.error("Only an admin can open this page.", icon=":material/block:")
    st.stop()

st.title("Admin")


@st.fragment(run_every=REFRESH_SECONDS)
def health_panel() -> None:
    """Worker heartbeat, last webhook, queue server and PhantomBuster (network probes cached ~30 s)."""
    show_toasts()
    with ctx.db.read() as session:
        h = health.check(session, ctx.settings)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Worker heartbeat",
        ago(h.worker_at, h.checked_at) if h.worker_at else "never",
        delta="alive" if h.worker_ok else "silent",
        delta_color="normal" if h.worker_ok else "inverse",
        delta_arrow="off",
        border=True,
        help="The reconciler beats every RECONCILE_INTERVAL_SECONDS.",
    )
    c2.metric("Last webhook received", ago(h.last_webhook_at, h.checked_at), border=True)
    c3.metric(
        "Queue server",
        "reachable" if h.queue_server.ok else "unreachable",
        delta=f"{h.queue_server.millis:.0f} ms" if h.queue_server.ok else h.queue_server.detail[:40],
        delta_color="normal" if h.queue_server.ok else "inverse",
        delta_arrow="off",
        border=True,
    )
    quota = h.quota
    left = (
        f"{duration(quota.monthly_left)} left of {duration(quota.monthly_plan)}"
        if quota and quota.monthly_left is not None
        else h.phantombuster.detail[:60]
    )
    c4.metric(
        "PhantomBuster",
        "reachable" if h.phantombuster.ok else "unreachable",
        delta=left,
        delta_color="normal" if h.phantombuster.ok else "inverse",
        delta_arrow="off",
        border=True,
        help="Execution time left this month from orgs/fetch-resources"
        + (f" ({quota.plan_name} plan)" if quota and quota.plan_name else "")
        + (": the local sandbox, no PHANTOMBUSTER_API_KEY is set." if ctx.settings.sandbox_mode else "."),
    )
    if h.agent.ok:
        st.caption(f":material/verified: PhantomBuster agent: {plain(h.agent.detail)}.")
    elif h.phantombuster.ok:
        st.warning(f"The PhantomBuster agent needs a change: {plain(h.agent.detail)}", icon=":material/build:")
    st.caption(
        f"Checked {clock(h.checked_at)}; PhantomBuster and the queue server are asked at most every "
        f"{ctx.settings.health_cache_seconds:.0f} s."
    )


@st.fragment(run_every=REFRESH_SECONDS)
def account_panel() -> None:
    """The LinkedIn account: today's use, what holds it back with the control that clears it, and its limits."""
    now = utcnow()
    with ctx.db.read() as session:
        view = board.account_view(session, ctx.settings, user, now)
    share = f" ({view.share_today:.0%} of the limit while ramping up)" if view.share_today < 1 else ""
    c1, c2 = st.columns([3, 2], vertical_alignment="center")
    c1.metric(
        "Profiles sent today",
        f"{view.sent_today:,} of {view.allowance_today:,}",
        border=True,
        help=f"Counted over the local day in {view.zone.key}{share}.",
    )
    with c2:
        if view.hold is None:
            st.success("Sending within its limits.", icon=":material/verified_user:")
        else:
            st.warning(plain(view.hold.sentence(view.zone, now)), icon=":material/front_hand:")
            if view.hold_kind == accounts.Hold.SESSION:
                renewed = st.button("LinkedIn session renewed", type="primary", icon=":material/key:", key="renewed")
                if renewed and attempt(
                    lambda: queue_controls.session_renewed(ctx.db, ctx.doorbell, ctx.settings, user),
                    success="Launches resume at a lower volume and ramp back up.",
                ):
                    st.rerun()
            else:
                resumed = st.button("Resume launches", icon=":material/play_arrow:", key="resume_account")
                if resumed and attempt(
                    lambda: queue_controls.resume_account(ctx.db, ctx.doorbell, ctx.settings, user),
                    success="Launches resume.",
                ):
                    st.rerun()


def account_limits_form() -> None:
    """Edit the account's limits, hours and ramp (outside the refresh, so typing is never disturbed)."""
    with ctx.db.read() as session:
        view = board.account_view(session, ctx.settings, user, utcnow())
    account = view.account
    with st.form("account_limits", border=True):
        st.markdown("**Limits of the LinkedIn account**")
        a, b, c, d = st.columns(4)
        per_day = a.number_input("Profiles per day", 1, 10_000, account.profiles_per_day, key="acc_per_day")
        per_launch = b.number_input(
            "Profiles per launch",
            1,
            ctx.settings.profiles_per_launch_max,
            account.profiles_per_launch,
            key="acc_launch",
        )
        gap = c.number_input("Minutes between launches", 0.0, 1440.0, account.min_gap_seconds / 60, key="acc_gap")
        jitter = d.number_input("Random extra minutes", 0.0, 1440.0, account.gap_jitter_seconds / 60, key="acc_jitter")
        e, f, g, h = st.columns(4)
        start = e.text_input("Working hours from", account.work_start, key="acc_start")
        end = f.text_input("to (24:00 = midnight)", account.work_end, key="acc_end")
        days = g.multiselect(
            "Working days",
            list(pacing.WEEKDAYS),
            default=[d for d in account.work_days.split(",") if d],
            key="acc_days",
        )
        zone = h.text_input(
            "Time zone (blank: the workspace's)",
            account.timezone or "",
            key="acc_zone",
            help=f"Now {view.zone.key}, {view.zone_source}.",
        )
        i, j = st.columns(2)
        ramp_share = i.number_input(
            "A new account starts at (share of the limit)", 0.05, 1.0, account.ramp_start_share, step=0.05, key="acc_rs"
        )
        ramp_step = j.number_input("and adds each week", 0.0, 1.0, account.ramp_weekly_step, step=0.05, key="acc_step")
        saved = st.form_submit_button("Save the limits", icon=":material/save:")
    if saved:
        change = accounts.LimitChange(
            int(per_day), int(per_launch), float(gap), float(jitter), start, end, ",".join(days),
            zone.strip() or None, float(ramp_share), float(ramp_step),
        )  # fmt: skip
        if (
            attempt(
                lambda: queue_controls.change_account_limits(ctx.db, ctx.doorbell, ctx.settings, user, change),
                success="The account's limits are saved.",
            )
            is not None
        ):
            st.rerun()
    ramping = account.ramp_started_at is not None and view.share_today < 1
    st.caption(
        (f"Ramping up since {clock(account.ramp_started_at)}. " if ramping else "")
        + "Defaults follow PhantomBuster's guidance: see the README's section on LinkedIn account safety."
    )
    ramp = st.button("Treat as a new account (start the ramp)", icon=":material/trending_up:", key="start_ramp")
    if ramp and attempt(
        lambda: queue_controls.start_ramp(ctx.db, ctx.settings, user), success="The ramp starts today."
    ):
        st.rerun()


def users_panel() -> None:
    """The user list, a form to create one, and role and enable/disable changes."""
    with ctx.db.read() as session:
        rows = users.list_users(session, user)
    st.table(
        [
            {
                "name": plain(u.name),
                "role": u.role,
                "status": "disabled" if u.disabled else ("locked" if u.locked_until else "active"),
                "sign-in": "single sign-on" if u.sso_only else "password",
                "active jobs": u.active_jobs,
                "last sign-in": clock(u.last_login_at),
            }
            for u in rows
        ]
    )
    left, right = st.columns(2)
    with left, st.form("create_user", clear_on_submit=True):
        st.markdown("**Create a user**")
        name = st.text_input("Name", key="new_user_name")
        password = st.text_input(
            "Password",
            type="password",
            key="new_user_password",
            help="At least 8 characters; blank = single sign-on only.",
        )
        role = st.selectbox("Role", [Role.ANALYST.value, Role.ADMIN.value], key="new_user_role")
        if st.form_submit_button("Create user", icon=":material/person_add:"):

            def _create() -> bool:
                with ctx.db.write() as session:
                    users.create(session, user, name, password or None, role)
                return True

            if attempt(_create, success=f"User {plain(name)} created."):
                st.rerun()
    with right, st.container(border=True):
        st.markdown("**Change a user**")
        by_id = {u.id: u for u in rows}
        target_id = st.selectbox("User", list(by_id), format_func=lambda i: by_id[i].name, key="admin_user")
        target = by_id.get(target_id)
        if target is not None:
            new_role = st.segmented_control(
                "Role", [Role.ANALYST.value, Role.ADMIN.value], default=target.role, key=f"role_{target.id}"
            )
            b1, b2 = st.columns(2)
            if b1.button("Save role", key="save_role", disabled=new_role in (None, target.role)):

                def _role() -> bool:
                    with ctx.db.write() as session:
                        users.set_role(session, user, target.id, str(new_role))
                    return True

                if attempt(_role, success=f"{plain(target.name)} is now {new_role}."):
                    st.rerun()
            label = "Enable" if target.disabled else "Disable"
            if b2.button(
                label, key="toggle_user", icon=":material/person_off:" if not target.disabled else ":material/person:"
            ):

                def _toggle() -> bool:
                    with ctx.db.write() as session:
                        users.set_disabled(session, user, target.id, not target.disabled)
                    return True

                if attempt(_toggle, success=f"{plain(target.name)} {'enabled' if target.disabled else 'disabled'}."):
                    st.rerun()


def dead_letter_panel() -> None:
    """Runs that used up their attempts, each with a retry button."""
    with ctx.db.read() as session:
        dead = read_models.dead_runs(session, user)
    if not dead:
        st.caption("No run has used up its attempts.")
    for run in dead:
        with st.container(border=True):
            c1, c2 = st.columns([6, 1], vertical_alignment="center")
            c1.markdown(
                f"**run #{run.id}** · job #{run.job_id} · {plain(run.company or '(no company)')} · {run.status} · "
                f"{run.attempts} attempts · ended {clock(run.ended_at)}  \n:red[{plain(run.dead_reason)}]"
            )
            if c2.button("Retry", key=f"retry_run_{run.id}", icon=":material/replay:"):

                def _retry(run_id: int = run.id) -> bool:
                    queue_controls.retry_dead_run(ctx.db, ctx.doorbell, user, run_id)
                    return True

                if attempt(_retry, success=f"Run #{run.id} queued again."):
                    st.rerun()


def retention_panel() -> None:
    """The retention periods and what the periodic clean-up removed."""
    s = ctx.settings
    st.markdown(
        f"Completed jobs are kept **{s.retention_completed_days} days**, failed and cancelled jobs "
        f"**{s.retention_failed_days} days** (RETENTION_COMPLETED_DAYS, RETENTION_FAILED_DAYS). The worker's hourly "
        "task `clean_up_old_jobs` deletes older ones with their leads, runs, webhook deliveries and audit events."
    )
    with ctx.db.read() as session:
        events = read_models.retention_events(session, user)
    if not events:
        st.caption("Nothing has been removed yet.")
        return
    st.table(
        [
            {
                "when": clock(e.at),
                "jobs removed": e.details.get("jobs", 0),
                "leads": e.details.get("leads", 0),
                "runs": e.details.get("runs", 0),
                "job ids": ", ".join(f"#{i}" for i in e.details.get("job_ids", [])[:12]),
            }
            for e in events
        ]
    )


st.subheader("Health")
health_panel()
st.subheader("LinkedIn account")
account_panel()
account_limits_form()
users_tab, dead_tab, retention_tab = st.tabs(["Users", "Dead-letter runs", "Retention"])
with users_tab:
    users_panel()
with dead_tab:
    dead_letter_panel()
with retention_tab:
    retention_panel()
