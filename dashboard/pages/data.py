"""Data & model: the bundle's manifest in words, group sizes and base rates, training logs."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import plots
from taskfair.safe_text import redact_paths
from taskfair.variant import sampling_note

view = v.setup(
    "data", "Data & model", "What this bundle is: model, data, groups, and how it was trained."
)
b = view.bundle
m = b.manifest
spec = b.model_spec
ds = m.get("dataset", {})
frame = b.eval_frame


def _s(x, default="?"):
    """A manifest value as Markdown text (escaped; server paths hidden in viewer mode)."""
    return default if x in (None, "", [], {}) else v.say(x)


md = v.say


def _results() -> str:
    r = m.get("results") or {}
    if r.get("fft_test_accuracy") is None:
        return ""
    line = f"\n- **Sanity check** (test rows): FFT accuracy {r['fft_test_accuracy']:.3f}"
    if r.get("majority_test_accuracy") is not None:
        line += f" vs {r['majority_test_accuracy']:.3f} for always predicting the majority label"
    if r.get("base_test_accuracy") is not None:
        line += f" and {r['base_test_accuracy']:.3f} for the untrained base"
    return line + "."


def _head_words(b, spec) -> str:
    """Where the fine-tunes' classification head comes from: one seeded head shared by
    every fine-tune, or each seed's own (``seed_draws: rows+head``)."""
    heads = b.seed_heads
    if not heads:
        return (
            f"two-class head initialised with seed {_s(spec.get('head_seed'))} and shared by "
            "every fine-tune"
        )
    seeds = ", ".join(f"seed {s}: {h.get('head_seed')}" for s, h in sorted(heads.items()))
    return f"two-class head drawn per seed (head seeds {seeds}): each seed's fine-tunes start from its own"


st.subheader("In words")
size = spec.get("max_length") and f"inputs truncated to {spec['max_length']} tokens"
size = size or (spec.get("image_size") and f"images resized to {spec['image_size']} px")
st.markdown(
    f"- **Model**: {_s(spec.get('name'))} ({_s(spec.get('arch'), 'architecture not recorded')}, "
    f"{b.modality}), from {_s(spec.get('source'))}; {size or 'input size not recorded'}; {_head_words(b, spec)}. Base fingerprint "
    f"`{b.base_fingerprint[:12]}…`.\n"
    f"- **Dataset**: {_s(ds.get('name'))}"
    + (f" ({_s(ds['source'])})" if ds.get("source") else "")
    + f"; label: {_s(ds.get('label_name'), 'positive class = 1')}. Sensitive attribute **{md(b.attribute)}** "
    f"with groups {', '.join(f'*{md(g)}*' for g in b.groups)}. Rows in no group count for accuracy only.\n"
    f"- **Vectors** (seed{'s' if len(b.seeds) > 1 else ''} {', '.join(map(str, b.seeds))}): "
    + ", ".join(f"*{md(n)}*" for n in b.vector_names())
    + " — τ = θ_fine-tuned − θ₀; `fft` on all training rows, `lora` merged into the base, one per "
    f"subgroup on that subgroup's rows. {md(sampling_note(b.manifest.get('config') or {}))}\n"
    f"- **Weights shipped**: {'yes' if b.has_weights else 'no (viewer copy: cached sweeps only)'}."
    + _results()
)

st.subheader("Groups per split")


def _sizes() -> pd.DataFrame:
    """Group sizes and base rates: the manifest's (whole splits, train included) when
    recorded, else counted from the evaluation rows."""
    counts, rates = ds.get("group_counts") or {}, ds.get("base_rates") or {}
    out = [
        {"split": split, "group": g, "n": int(n), "base_rate": (rates.get(split) or {}).get(g)}
        for split, groups in counts.items()
        for g, n in groups.items()
    ]
    if out:
        return pd.DataFrame(out)
    for split, part in frame.groupby("split", sort=False):
        groups = part[b.attribute].astype(object).where(part[b.attribute].notna(), "(no group)")
        for g, sub in part.groupby(groups, sort=True):
            out.append(
                {"split": split, "group": g, "n": len(sub), "base_rate": float(sub["label"].mean())}
            )
    return pd.DataFrame(out)


sizes = _sizes()
c1, c2 = st.columns([3, 2])
with c1:
    st.plotly_chart(plots.group_sizes_figure(sizes), width="stretch")
with c2:
    wide = sizes.pivot_table(index="group", columns="split", values=["n", "base_rate"], sort=False)
    wide.columns = [f"{split} {what.replace('_', ' ')}" for what, split in wide.columns]
    st.dataframe(wide.round(3), width="stretch")
    st.caption(
        "Base rate = share of positive labels. A post can name several groups or none; "
        "rows in no group count for accuracy only. Small groups make disparities noisy: "
        "read n beside every metric."
    )
ev_rows = frame.groupby(["split", frame[b.attribute].astype(object).fillna("(no group)")]).size()
used = ds.get("train_rows_used") or {}
st.markdown(
    f"**Evaluated on** {', '.join(f'{n} {md(s)}' for s, n in frame['split'].value_counts().items())} rows "
    f"({md(m.get('eval', {}).get('sampling', 'sampling not recorded'))}). **Trained on** "
    + (", ".join(f"{md(k)}: {md(n)}" for k, n in used.items()) or "(not recorded)")
    + " rows."
)
with st.expander("Evaluation rows per group"):
    st.dataframe(ev_rows.unstack(0).fillna(0).astype(int), width="stretch")

st.subheader("Training logs")
curves, epochs = [], []
for e in b.vector_entries(view.seed):
    log = b.log(e.name, view.seed)
    for p in log.get("loss_curve", []):
        curves.append({"vector": e.name, "step": p.get("step"), "loss": p.get("loss")})
    last = (log.get("epochs") or [{}])[-1]
    epochs.append(
        {
            "vector": e.name,
            "kind": e.kind,
            "rows": (log.get("rows") or {}).get("train"),
            "epochs": log.get("epochs_run"),
            "chosen epoch": log.get("chosen_epoch"),
            "val accuracy (last epoch)": last.get("val_accuracy"),
            "seconds": log.get("seconds"),
        }
    )
if curves:
    st.plotly_chart(plots.loss_figure(pd.DataFrame(curves)), width="stretch")
else:
    st.info("This bundle has no loss curves in its logs.")
st.dataframe(pd.DataFrame(epochs), width="stretch", hide_index=True)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _shown_image(path: str) -> bool:
    """Whether the Data page may show this eval image: an image file whose real path is
    inside the bundle, or (full mode) under the manifest's ``image_root``; never any
    other file of the server, whatever the manifest or the eval rows say."""
    p = Path(path)
    if ".." in p.parts or p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
        return False
    real = p.resolve()
    roots = [b.root.resolve()]
    image_root = m.get("eval", {}).get("image_root")
    if image_root and not ac.viewer_mode():
        roots.append(Path(image_root).resolve())
    return any(_inside(real, r) and r != Path(r.anchor) for r in roots)


if b.modality == "image" and "image" in frame.columns:
    st.subheader("Sample images per group")
    shown = 0
    for g in b.groups:
        part = frame[frame[b.attribute] == g]
        # Three of each label, so both classes show; only files present here: a viewer
        # copy may ship without the image folder.
        rows = pd.concat([part[part["label"] == y].head(6) for y in (1, 0)])
        rows = rows[[_shown_image(p) for p in rows["image"]]].groupby("label").head(3)
        if len(rows):
            st.markdown(f"**{md(g)}**")
            st.image(
                rows["image"].tolist(),
                width=96,
                caption=[f"{md(ds.get('label_name') or 'label')}: {y}" for y in rows["label"]],
            )
            shown += len(rows)
    if shown:
        st.caption(
            f"Three evaluation rows per label of each group, from {_s(ds.get('source'), 'the data')}."
        )
    else:
        st.info(
            "The image files of this bundle are not available here (a viewer copy without "
            "the data folder): sample images are skipped. Cached points are unaffected; new "
            "exact points need the bundle's decoded pixel cache (eval_pixels.safetensors)."
        )
elif "text" in frame.columns:
    with st.expander("Sample rows per group (may contain offensive language)"):
        sample = frame.groupby(b.attribute, dropna=True).head(2)[
            ["text", "label", b.attribute, "split"]
        ]
        st.dataframe(sample, width="stretch", hide_index=True)

with st.expander("Manifest (raw)"):
    shown = {k: m[k] for k in m if k not in ("artifacts",)}
    text = json.dumps(shown, indent=2, default=str)[:20000]
    # A code block shows text as is; a public viewer still hides where the server's files are.
    st.code(redact_paths(text) if ac.viewer_mode() else text, language="json")
