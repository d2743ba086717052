"""LeadRelay's Streamlit entry point: sign-in, then navigation between the pages the user's role allows."""

from __future__ import annotations

import streamlit as st

from core.models import Role
from pages.common import current_user, flush_cookie, sidebar_indicator, sign_in, sign_out

st.set_page_config(page_title="LeadRelay", page_icon=":material/conveyor_belt:", layout="wide")


def sign_in_page() -> None:
    st.title("LeadRelay")
    st.caption("Sign in to upload lead files and follow their PhantomBuster runs.")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        error = sign_in(name, password)
        if error:
            st.error(error)
        else:
            st.rerun()


user = current_user()
flush_cookie()
if user is None:
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")], position="hidden").run()
    st.stop()

pages = [
    st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:", default=True),
    st.Page("pages/task_manager.py", title="Task Manager", icon=":material/monitoring:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
]
if user.role == Role.ADMIN:
    pages.append(st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"))
st.session_state["user_id"] = user.id
with st.sidebar:
    st.markdown(f"Signed in as **{user.name}** ({user.role})")
    if st.button("Sign out", icon=":material/logout:"):
        sign_out()
        st.rerun()
sidebar_indicator(user)
st.navigation(pages).run()
