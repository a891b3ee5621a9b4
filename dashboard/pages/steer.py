"""Steering assistant: search per-vector λ_g for the fairest mix under an accuracy floor."""

import json

import pandas as pd
import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import plots
from taskfair.errors import USER_ERRORS
from taskfair.steer import (
    DEFAULT_BUDGET,
    DEFAULT_MARGIN,
    STRATEGIES,
    Constraints,
    Objective,
    Problem,
    influence_at,
    steer,
)
from taskfair.steer.card import card_markdown, json_safe, merge_card, mergekit_yaml, rebuild_script

OBJECTIVE_NAMES = {"EOD": "eod", "DPD": "dpd", "Worst-group error": "worst_group_error",
                   "Mix": "mix"}  # fmt: skip

view = v.setup(
    "steer",
    "Steering assistant",
    "States an objective and an accuracy floor; searches per-vector λ_g on **validation** "
    "(previews screen, exact evaluations confirm, bootstrap intervals certify) and reports "
    "the result on **test**. Every exact point is cached; a stopped search resumes.",
)
store = view.store
groups = list(store.groups)
if not view.can_evaluate:
    st.info("The assistant evaluates new mixes exactly: this bundle has no model weights.")
    st.stop()

method, params = v.merge_method(groups)
with st.form("steer-form"):
    c1, c2, c3 = st.columns(3)
    with c1:
        objective_name = st.radio("Objective (minimise)", list(OBJECTIVE_NAMES), key="steer_objective",
                                  horizontal=True)  # fmt: skip
        with st.expander("Mix weights (objective = Mix)"):
            weights = {
                m: st.number_input(
                    m,
                    min_value=0.0,
                    max_value=10.0,
                    value=1.0 if m == "eod" else 0.0,
                    step=0.5,
                    key=f"steer_w_{m}",
                )  # fmt: skip
                for m in ("eod", "dpd", "worst_group_error")
            }
        target = st.number_input("Target (0: none)", min_value=0.0, max_value=1.0, value=0.0,
                                 step=0.01, key="steer_target",
                                 help="Accept a mix only when the upper end of its objective's "
                                 "interval is at or below this.")  # fmt: skip
    with c2:
        margin = st.number_input("Accuracy margin below FFT", min_value=0.0, max_value=0.5,
                                 value=DEFAULT_MARGIN, step=0.01, key="steer_margin",
                                 help="Floor = FFT's validation accuracy − margin; a mix is "
                                 "accepted only when the lower end of its accuracy interval "
                                 "reaches the floor.")  # fmt: skip
        budget = int(st.number_input("Budget (exact validation evaluations)", min_value=1,
                                     max_value=500, value=DEFAULT_BUDGET, step=1,
                                     key="steer_budget"))  # fmt: skip
    with c3:
        allow_degenerate = st.checkbox("Allow degenerate points", key="steer_degenerate",
                                       help="Accept (nearly) constant predictors too (they "
                                       "stay flagged): their DPD and EOD of 0 are not fairness.")  # fmt: skip
        search = st.selectbox("Search", list(STRATEGIES), key="steer_search",
                              help="trust_region: minimise the previews near the best exact "
                              "point, confirm exactly. coordinate: pattern search with "
                              "preview-ranked polls. cmaes: exact evaluations only.")  # fmt: skip
    with st.expander("Per-group floors and λ ranges"):
        floors, ranges = {}, {}
        for g in groups:
            a, b = st.columns([1, 2])
            f = a.number_input(v.say(f"{g}: accuracy floor (0: none)"), min_value=0.0, max_value=1.0,
                               value=0.0, step=0.05, key=f"steer_floor_{g}")  # fmt: skip
            if f > 0:
                floors[g] = f
            ranges[g] = b.slider(v.say(f"λ range of {g}"), min_value=-1.0, max_value=2.0,
                                 value=(0.0, 1.0), step=0.05, key=f"steer_range_{g}")  # fmt: skip
    submitted = st.form_submit_button(
        "Search (or resume)", type="primary", icon=":material/explore:"
    )

try:
    problem = Problem(
        objective=Objective(OBJECTIVE_NAMES[objective_name], weights, target or None),
        constraints=Constraints(margin=margin, group_floors=floors,
                                ranges={g: r for g, r in ranges.items() if tuple(r) != (0.0, 1.0)}),
        method=method.name,
        params={p.name: params[p.name] for p in method.own_params if p.keyed and p.name in params},
        normalize=view.normalize,
        budget=budget,
        search=search,
        allow_degenerate=allow_degenerate,
    )  # fmt: skip
except USER_ERRORS as exc:
    v.error(exc)
    st.stop()


def evaluator():
    return ac.evaluator(view.path, view.seed)


status = st.empty()
result = None


def _search():
    """The search the form asks, with its stop button and progress bar."""
    with status.container():
        stop_col, bar_col = st.columns([1, 5])
        stop_col.button("Stop", icon=":material/stop:", key="steer_stop",
                        help="Stops after the current exact evaluation; Search resumes it.")  # fmt: skip
        bar = bar_col.progress(0.0, text="Starting…")

        def progress(done, total, message=""):
            bar.progress(min(done / max(total, 1), 1.0),
                         text=f"{done}/{total} exact validation points · {v.say(message)}")  # fmt: skip

        return steer(problem, store, evaluator, progress=progress)


try:
    if submitted:
        with ac.admission().ticket(v.session_id()) as admitted:
            if not admitted:  # one search per visitor at a time, four on the server
                st.warning(v.BUSY_CLICK, icon=":material/hourglass:")
                st.stop()
            result = _search()
        status.empty()
    else:
        # The stored search's test report may evaluate a few points: admitted too;
        # refused, the page shows the validation result only.
        with (
            st.spinner("Reading the stored search…"),
            ac.admission().ticket(v.session_id()) as admitted,
        ):
            result = steer(problem, store, evaluator, run_search=False, report_test=admitted)
except USER_ERRORS as exc:
    v.error(exc)
    st.stop()

if result is None:
    st.info("No search for these settings yet: press **Search**. The starting grid (the "
            "method's global λ, FFT and LoRA) is read from the cache when it is there.")  # fmt: skip
    st.stop()
if st.session_state.get("steer_stop"):
    st.warning("Stopped. Press **Search** to resume where it stood.")

label = problem.objective.label
rec, best = result.candidate(result.recommendation), result.candidate(result.best_global)
st.caption(
    f"Floor **{result.floor:.3f}** · {result.n_exact} exact validation points of a budget of "
    f"{problem.budget} ({result.n_new} evaluated now) · search `{problem.search}`"
    + (" · converged" if result.converged else "")
    + (" · stopped" if result.stopped else "")
)


def iv(d) -> str:
    if not d or d.get("value") is None:
        return "–"
    if d.get("lo") is None:
        return v.fmt(d["value"])
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def test_of(i):
    return next((t for t in result.test.values() if t.get("index") == i), None)


left, right = st.columns([3, 2])
with left:
    fig = plots.steer_pareto_figure(result.table(), objective=label, floor=result.floor)
    st.plotly_chart(fig, width="stretch", key="steer-pareto")
with right:
    if rec is None:
        st.warning("No mix was accepted: none has the lower end of its accuracy interval above "
                   "the floor (and its objective's upper end under the target). Widen the "
                   "margin, drop the target or raise the budget.")  # fmt: skip
    else:
        coeffs = ", ".join(f"{g} = {x:g}" for g, x in rec["setting"]["coeffs"].items())
        st.markdown(f"**Recommendation** — {v.say(rec['label'])}: {v.say(coeffs)}")
        rows = []
        for name, c, idx in (("recommendation", rec, result.recommendation),
                             ("best global λ", best, result.best_global)):  # fmt: skip
            if c is None:
                continue
            t = test_of(idx) or {}
            rows.append({"point": name, "split": "val", "accuracy": iv(c["val"]["accuracy"]),
                         "DPD": iv(c["val"]["dpd"]), "EOD": iv(c["val"]["eod"])})  # fmt: skip
            if t:
                rows.append({"point": name, "split": "test", "accuracy": iv(t["accuracy"]),
                             "DPD": iv(t["dpd"]), "EOD": iv(t["eod"])})  # fmt: skip
        for ref in ("FFT", "LORA"):
            t = result.test.get(ref)
            if t:
                rows.append({"point": ref if ref == "FFT" else "LoRA", "split": "test",
                             "accuracy": iv(t["accuracy"]), "DPD": iv(t["dpd"]),
                             "EOD": iv(t["eod"])})  # fmt: skip
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="steer-summary")
        for split, d in result.differences.items():
            st.caption(f"Recommendation − best global λ on **{split}** (paired bootstrap): "
                       f"EOD {iv(d['eod'])}, DPD {iv(d['dpd'])}, accuracy {iv(d['accuracy'])}")  # fmt: skip
        for note in rec["degenerate"]:
            st.caption(f"⚠ {v.say(note)}")

st.subheader("Pareto set (validation), reported on test")
table = result.table()
front = table[table["pareto"]].copy()
front["test EOD"] = [iv((test_of(i) or {}).get("eod")) for i in result.pareto]
front["test accuracy"] = [iv((test_of(i) or {}).get("accuracy")) for i in result.pareto]
shown = [c for c in front.columns if not c.endswith(("_lo", "_hi"))]
st.dataframe(front[shown], hide_index=True, width="stretch", key="steer-front")

st.subheader("Which vector moves which group")
where = "the best global λ (where the previews' JVPs were taken)"
matrix = result.influence
if rec is not None and st.button("Compute at the recommendation", key="steer_influence",
                                 help="One JVP per vector at the recommended mix."):  # fmt: skip
    with ac.admission().ticket(v.session_id()) as admitted:
        if not admitted:
            st.warning(v.BUSY_CLICK, icon=":material/hourglass:")
        else:
            try:
                with st.spinner("One JVP per vector…"):
                    setting = result.setting(result.recommendation)
                    matrix = influence_at(evaluator(), setting, "val")
                where = "the recommendation"
            except USER_ERRORS as exc:
                v.error(exc)
if matrix is not None:
    st.plotly_chart(plots.influence_figure(matrix, where=where), width="stretch",
                    key="steer-influence")  # fmt: skip
    st.caption("Rates of argmax predictions are step functions of λ; the matrix is the "
               "derivative of their smooth versions (mean predicted probability of the "
               "positive class over the group's rows, its positives for TPR, its negatives "
               "for FPR), from the first-order preview's directional derivatives.")  # fmt: skip
else:
    st.caption("The influence matrix needs the previews' JVPs (searches other than cmaes).")

if rec is not None:
    st.subheader("Merge card")
    card = json_safe(merge_card(result, view.bundle, seed=view.seed))
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("card.json", data=json.dumps(card, indent=2), file_name="card.json",
                       mime="application/json", key="steer-card-json")  # fmt: skip
    c2.download_button("card.md", data=card_markdown(card), file_name="card.md",
                       mime="text/markdown", key="steer-card-md")  # fmt: skip
    c3.download_button("mergekit.yaml", data=mergekit_yaml(card), file_name="mergekit.yaml",
                       mime="text/yaml", key="steer-card-yaml")  # fmt: skip
    c4.download_button("rebuild.py", data=rebuild_script(card), file_name="rebuild.py",
                       mime="text/x-python", key="steer-card-script")  # fmt: skip
    with st.expander("Card (Markdown)"):
        # As its source: the card holds bundle and vector names, text from files.
        st.code(card_markdown(card), language="markdown")
