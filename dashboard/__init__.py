"""The Streamlit dashboard: ``pages/`` (one file per view), ``view`` (the shared sidebar, URL
state, the live loop), ``cache`` (the ``st.cache_*`` wrappers over the library), ``auth``
(the optional password gate), ``scrub`` and ``assets/`` (the browser-side slider).

``app.py`` at the repository's root stays the router. Streamlit's legacy folder discovery
only looks at a ``pages/`` folder beside the entrypoint, so ``dashboard/pages/`` is not
listed as navigation."""
