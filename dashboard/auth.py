"""An optional password gate for a shared demo.

Set ``password = "..."`` in Streamlit's secrets (``.streamlit/secrets.toml``, or the
host's secrets settings on Streamlit Community Cloud; see
``.streamlit/secrets.toml.example``), or the ``TASKFAIR_PASSWORD`` environment variable
(Hugging Face Spaces secrets, ``docker run -e``), and every session must enter it once.
Without either there is no gate. This keeps casual visitors out of a link that leaked; it is not
user management (one shared password, no accounts, no rate limit: put the app behind
the host's own access control when that matters).
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

__all__ = ["expected_password", "gate"]

_OK = "_taskfair_password_ok"
SECRET = "password"
ENV_PASSWORD = "TASKFAIR_PASSWORD"


def expected_password() -> str | None:
    """The configured password, or None when none is set (no gate).

    ``st.secrets["password"]`` first; else the ``TASKFAIR_PASSWORD`` environment variable,
    for hosts that hand secrets to the process as variables (Hugging Face Spaces,
    ``docker run -e``).
    """
    try:
        value = st.secrets.get(SECRET)
    except Exception:  # no secrets file at all, or one that does not parse
        value = None
    value = value or os.environ.get(ENV_PASSWORD, "")
    return str(value) if value else None


def _login() -> None:
    st.title("taskfair")
    with st.form("password-gate"):
        given = st.text_input("Password", type="password", key="_taskfair_password")
        submitted = st.form_submit_button("Enter")
    if submitted:
        expected = expected_password() or ""
        # Constant-time comparison: the answer's timing says nothing about the secret.
        if hmac.compare_digest(given.encode(), expected.encode()):
            st.session_state[_OK] = True
            st.session_state.pop("_taskfair_password", None)
            st.rerun()
        st.error("Wrong password. Ask whoever shared this link for it.")


def gate() -> bool:
    """True when this session may see the app. Otherwise draws the sign-in form as the
    app's only page (so no page of ``dashboard/pages/`` is reachable by its URL) and returns False:
    the caller stops the run."""
    if expected_password() is None or st.session_state.get(_OK):
        return True
    st.navigation(
        [st.Page(_login, title="Sign in", icon=":material/lock:")], position="hidden"
    ).run()
    return False
