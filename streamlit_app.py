"""LeadRelay's Streamlit entry point: sign-in, then navigation between the pages the user's role allows."""

from __future__ import annotations

import streamlit as st

from core.models import Role
from pages.common import (
    account_banner,
    app,
    current_user,
    flush_cookie,
    plain,
    show_toasts,
    sidebar_indicator,
    sign_in,
    sign_out,
)

# The url_path of every page below (Streamlit names a file page after its file).
SIGNED_OUT_PATHS = ("", "task_manager", "history", "settings", "admin")

st.set_page_config(page_title="LeadRelay", page_icon=":material/conveyor_belt:", layout="wide")


def sign_in_page() -> None:
    """A centred sign-in form, and single sign-on when it is configured."""
    ctx = app()
    _, middle, _ = st.columns([1, 1.2, 1])
    with middle:
        st.title(":material/conveyor_belt: LeadRelay")
        st.caption("Sign in to upload lead files and follow their PhantomBuster runs.")
        with st.form("sign_in", border=True):
            name = st.text_input("User name", key="sign_in_name", autocomplete="username")
            password = st.text_input(
                "Password", type="password", key="sign_in_password", autocomplete="current-password"
            )
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            error = sign_in(name, password)
            if error:
                st.error(error, icon=":material/lock:")
            else:
                st.rerun()
        if error := st.session_state.pop("sign_in_error", None):
            st.error(error, icon=":material/lock:")
        if ctx.settings.oidc_enabled:
            if ctx.sso_problem:
                st.warning(ctx.sso_problem, icon=":material/warning:")
            elif st.button("Sign in with single sign-on", icon=":material/key:", width="stretch"):
                st.login()


user = current_user()
if user is None:
    flush_cookie()
    # The sign-in form answers on every page's address, so a link opened signed out (a notification's
    # /history?job=7) is still that address, query included, once the person has signed in.
    signed_out = [
        st.Page(sign_in_page, title="Sign in", icon=":material/login:", url_path=path, default=not path)
        for path in SIGNED_OUT_PATHS
    ]
    st.navigation(signed_out, position="hidden").run()
    st.stop()

pages = [
    st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:", default=True),
    st.Page("pages/task_manager.py", title="Task Manager", icon=":material/monitoring:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/settings.py", title="Notifications", icon=":material/notifications:"),
]
if user.role == Role.ADMIN:
    pages.append(st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"))
st.session_state["user_id"] = user.id
with st.sidebar:
    st.markdown(f"### :material/conveyor_belt: LeadRelay\nSigned in as **{plain(user.name)}** · {user.role}")
    if st.button("Sign out", icon=":material/logout:", key="sign_out"):
        sign_out()
        st.rerun()
show_toasts()
sidebar_indicator(user)
account_banner(user)
flush_cookie()
st.navigation(pages).run()
