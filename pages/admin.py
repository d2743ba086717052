"""Admin: users, system health, dead-letter runs and retention."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select

from core import admin, auth, heartbeat, webhooks
from core.models import Role, User
from pages.common import app, attempt, clock, current_user

ctx = app()
user = current_user()
assert user is not None
if user.role != Role.ADMIN:
    st.error("Only an admin can open this page.")
    st.stop()

st.title("Admin")

st.subheader("Health")
with ctx.db.read() as session:
    beat = heartbeat.last(session, "worker")
    last_hook = webhooks.last_received_at(session)
h1, h2 = st.columns(2)
h1.metric("Worker heartbeat", clock(beat.at) if beat else "never")
h2.metric("Last webhook received", clock(last_hook))

st.subheader("Users")
with ctx.db.read() as session:
    users = list(session.scalars(select(User).order_by(User.name)))
st.table(
    [{"name": u.name, "role": u.role, "disabled": u.disabled, "last sign-in": clock(u.last_login_at)} for u in users]
)
with st.form("create_user", clear_on_submit=True):
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Name")
    password = c2.text_input("Password", type="password")
    role = c3.selectbox("Role", [Role.ANALYST.value, Role.ADMIN.value])
    if st.form_submit_button("Create user"):

        def _create() -> None:
            with ctx.db.write() as session:
                auth.create_user(session, name, password, role)

        attempt(_create, success=f"User {name} created.")

st.subheader("Dead-letter runs")
with ctx.db.read() as session:
    dead = admin.dead_runs(session)
if not dead:
    st.caption("No run has used up its attempts.")
for run in dead:
    c1, c2 = st.columns([6, 1])
    c1.markdown(f"run #{run.id} · job #{run.job_id} · {run.company} · {run.status}  \n{run.dead_reason}")
    if c2.button("Retry", key=f"retry_run_{run.id}"):

        def _retry(run_id: int = run.id) -> bool:
            with ctx.db.write() as session:
                admin.retry_dead_run(session, user, run_id)
            return True

        if attempt(_retry, success=f"Run #{run.id} queued again."):
            import worker

            worker.ring("dispatch")
