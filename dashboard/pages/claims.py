"""Claims: the paper's claims C1–C5 judged on the open bundle, with the rule of each verdict.

Draws only: :func:`taskfair.analysis.reproduce.bundle_claims` sweeps what is missing (cached in the
bundle, as ``python -m taskfair reproduce`` does) and judges; this page shows the result.
A read-only viewer evaluates nothing, so there the page says how to make the report
instead of offering to judge; a bundle without weights is judged from its cached sweeps
(one clear error when a point is missing).
"""

import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair.analysis import claims_report, reproduce
from taskfair.errors import USER_ERRORS

view = v.setup(
    "claims",
    "Claims report",
    "Each of the paper's claims as a verdict (holds / does not hold / inconclusive) with the "
    "measured numbers, 95% intervals (test rows, and seeds) and the rule beside it.",
)
key = f"_claims:{view.path}:{view.normalize}"
if key not in st.session_state and ac.viewer_mode():
    # Judging sweeps the points the bundle has not cached, and a viewer computes nothing.
    st.info(
        "This read-only viewer evaluates nothing, and judging the claims evaluates merged "
        "models. Make the report where the full bundle is: `python -m taskfair reproduce "
        "--bundle DIR` writes claims.md and claims.html (docs/FINDINGS.md, section 9)."
    )
elif key not in st.session_state:
    st.write(
        f"Judging sweeps task addition ({view.normalize}) over the λ grid, each subgroup's "
        "injection at λ = "
        + ", ".join(f"{x:g}" for x in reproduce.INJECTION_LAMS)
        + " and the references on the test "
        f"rows of every seed ({len(view.bundle.seeds)}), then bootstraps "
        f"{reproduce.DEFAULT_N_BOOT} resamples. Points already cached cost nothing."
    )
    if st.button("Judge the claims", key="claims-run", type="primary"):
        bar = st.progress(0.0, "Starting…")

        def progress(done: int, total: int, message: str = "") -> None:
            bar.progress(min(1.0, done / max(total, 1)), message or "…")

        with ac.admission().ticket(v.session_id()) as admitted:  # bounded per visitor
            if not admitted:
                bar.empty()
                st.warning(v.BUSY_CLICK, icon=":material/hourglass:")
                st.stop()
            try:
                st.session_state[key] = reproduce.bundle_claims(
                    view.bundle, normalize=view.normalize, progress=progress
                )
            except USER_ERRORS as exc:
                v.error(exc)
                st.stop()
        bar.empty()
if key in st.session_state:
    run = st.session_state[key]
    for k, val in run.about.items():
        st.markdown(f"**{k}**: {v.say(val)}")
    summary = claims_report.summary_frame(run.results)
    cols = ["claim", "direction reproduced", "verdict", "measured", "statement"]
    st.dataframe(summary[cols], hide_index=True)
    if not run.deltas.empty:
        st.caption("Sensitivity to δ: the verdicts of C1 and C3 at each accuracy margin.")
        st.dataframe(run.deltas, hide_index=True)
    for r in run.results:
        with st.expander(f"{r.claim}: {r.verdict}"):
            st.markdown(r.statement)
            st.markdown(f"*Rule.* {r.rule}")
            st.dataframe(r.details, hide_index=True)
    if not run.ranking.empty:
        with st.expander("Per-group AUC and calibration (subgroup, BPSN, BNSP AUC; ECE; Brier)"):
            st.dataframe(claims_report.ranking_frame(run.ranking), hide_index=True)
    c1, c2 = st.columns(2)
    c1.download_button(
        "claims.md",
        claims_report.claims_markdown(
            run.results, run.about, deltas=run.deltas, ranking=run.ranking
        ),
        file_name="claims.md",
        mime="text/markdown",
    )
    c2.download_button(
        "claims.html",
        claims_report.claims_html(run.results, run.about, deltas=run.deltas, ranking=run.ranking),
        file_name="claims.html",
        mime="text/html",
    )
