"""A resumed search's state checked: its certificates recomputed from the cached logits
and every candidate judged again; the stored intervals read back as intervals."""

from __future__ import annotations

import math

from taskfair.errors import ConfigError
from taskfair.steer.certify import Interval, degeneracy, interval_record
from taskfair.sweep import Setting

__all__ = ["check_state", "summary_from_record"]


def summary_from_record(val: dict) -> dict:
    """The Interval view of a stored summary (for judging a resumed candidate)."""

    def iv(d):
        return Interval(*(math.nan if d[k] is None else d[k] for k in ("value", "lo", "hi")))

    out = {k: iv(v) for k, v in val.items() if isinstance(v, dict) and "value" in v}
    out["groups"] = {
        g: {m: (iv(x) if isinstance(x, dict) else x) for m, x in d.items()}
        for g, d in val["groups"].items()
    }
    return out


def check_state(run) -> None:
    """A resumed state's certificates recomputed from the cached logits (a malformed or
    forged state is started afresh), then every candidate judged again."""

    def recompute(c: dict) -> dict | str:
        try:
            setting = Setting(**c["setting"])
        except (TypeError, ValueError) as exc:
            return f"its setting is not one ({exc})"
        logits = run.store.logits(setting, "val")
        if logits is None:
            return "its point is not in the cache"
        preds = logits.argmax(axis=1)
        summary = run.bootstrap("val").summary(preds, run.problem.objective)
        notes = degeneracy(preds, run.store.split("val").groups)
        return {"val": interval_record(summary), "degenerate": notes}

    state = run.state
    if not state.verify(recompute) or state.data["floor"] is None:
        return
    fft = next((c for c in run.candidates if c["label"] == "FFT"), None)
    try:
        state.data["floor"] = run.problem.constraints.resolve_floor(
            fft["val"]["accuracy"]["value"] if fft else None
        )
    except ConfigError as exc:
        state._afresh(str(exc))
        return
    for c in run.candidates:
        run._judge(c)
