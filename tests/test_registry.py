"""The merge-method registry: declared parameters checked, settings keyed on them, and a
method added by one registry entry gets its controls on the Trade-off page."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from test_app import ROOT, TIMEOUT, bundle_dir, figures, settle  # noqa: F401 (fixture)

from taskfair.merge import MergeMethod, Param, get_method, method_names, register, unregister
from taskfair.sweep import PointKeys, Setting, curve_settings, method_setting

GROUPS = ["men", "women"]


def _toy() -> MergeMethod:
    # λ·strength on every subgroup vector: strength = 0 is the base, 1 is task addition.
    return MergeMethod(
        name="toy_scaled",
        title="Toy scaled addition",
        formula="θ₀ + λ·s·Σ_g τ_g",
        coefficients=lambda groups, p: {g: p["lam"] * p["strength"] for g in groups},
        params=(
            get_method("task_addition").param("lam"),
            get_method("task_addition").param("normalize"),
            Param("strength", "float", 1.0, low=0.0, high=2.0, step=0.5, help="scale s"),
        ),
        reference="tests/test_registry.py",
        curve=True,
    )


@pytest.fixture
def toy():
    method = register(_toy())
    yield method
    unregister(method.name)


def test_unknown_methods_and_parameters_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="Unknown merge method 'nope'.*task_addition"):
        get_method("nope")
    ta = get_method("task_addition")
    with pytest.raises(ValueError, match="has no parameter"):
        ta.resolve(GROUPS, {"lam": 0.3, "k": 1})
    with pytest.raises(ValueError, match="normalize must be one of"):
        ta.resolve(GROUPS, {"normalize": "median"})
    with pytest.raises(ValueError, match="finite"):
        ta.resolve(GROUPS, {"lam": float("nan")})
    with pytest.raises(ValueError, match="outside"):
        ta.resolve(GROUPS, {"lam": 11})
    with pytest.raises(ValueError, match="one of the groups"):
        get_method("injection").resolve(GROUPS, {"group": "nobody", "lam": 0.2})
    with pytest.raises(ValueError, match="registered already"):
        register(ta)
    assert {"task_addition", "injection", "per_vector"} <= set(method_names())


def test_registry_entries_give_the_paper_settings():
    ta = method_setting("task_addition", GROUPS, {"lam": 0.3, "normalize": "mean"})
    assert ta == Setting("task_addition", 0.3, "mean", {"men": 0.3, "women": 0.3})
    assert ta.effective == {"men": 0.15, "women": 0.15}
    inj = method_setting("injection", GROUPS, {"group": "women", "lam": 0.4})
    assert inj == Setting("injection", 0.4, "sum", {"fft": 1.0, "women": 0.4})
    pv = method_setting("per_vector", GROUPS, {"lams": {"men": 0.2, "women": 0.7}})
    assert pv == Setting("per_vector", None, "sum", {"men": 0.2, "women": 0.7})


def test_keyed_parameters_enter_the_cache_key_and_the_papers_keys_are_unchanged(toy):
    keys = PointKeys("base", lambda n: f"fp-{n}", {"val": "d"}, "g", 32, "torch.float32", 0)
    a, b = (
        curve_settings("toy_scaled", GROUPS, [0.5], "sum", {"strength": s})[0] for s in (1.0, 0.5)
    )
    assert a.params == (("strength", 1.0),) and a.coeff_dict == {"men": 0.5, "women": 0.5}
    assert keys.key(a, "val") != keys.key(b, "val")
    # Same coefficients as task addition at λ = 0.5, but another method: another point.
    ta = method_setting("task_addition", GROUPS, {"lam": 0.5})
    assert ta.coeffs == a.coeffs and keys.key(ta, "val") != keys.key(a, "val")
    # The paper's methods have no keyed parameters: their key record has no "params",
    # so caches written before the registry still resolve.
    assert ta.params == ()
    assert "params" not in ta.record()


def test_a_registered_method_gets_its_controls_on_the_tradeoff_page(toy, bundle_dir, monkeypatch):  # noqa: F811, E501
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle_dir))
    # these tests read the server's widgets (a complete view would move to the browser)
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    monkeypatch.setenv("TASKFAIR_REFINE_SLICE_S", "60")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["page"] = "tradeoff"
    at.query_params["lam"] = "0.5"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (picker,) = [s for s in at.selectbox if s.label == "Merge method"]
    assert "toy_scaled" in picker.options and picker.value == "task_addition"
    assert not [s for s in at.slider if s.label.startswith("strength")]  # not its method
    picker.set_value("toy_scaled")
    at.run()
    (strength,) = [s for s in at.slider if s.label == "strength (Toy scaled addition)"]
    assert (strength.min, strength.max, strength.value) == (0.0, 2.0, 1.0)
    strength.set_value(0.0)
    at = settle(at)
    # At strength 0 every λ is the base model: the drawn curve is flat and exact.
    fig = figures(at)[0]
    curve = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == "curve"]
    assert curve, [t.get("meta") for t in fig["data"]]
    ys = {round(y, 12) for t in curve[:1] for y in t["y"]}
    assert len(ys) == 1, ys
    json.dumps(fig)  # the figure stays serialisable with the toy method's label
    # The method and its parameter live in the URL: a link reproduces them.
    link = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, val in {"page": "tradeoff", "merge": "toy_scaled", "toy_scaled_strength": "0.0"}.items():
        link.query_params[k] = val
    link.run()
    assert not link.exception, [e.message for e in link.exception]
    assert [s.value for s in link.selectbox if s.label == "Merge method"] == ["toy_scaled"]
    assert [s.value for s in link.slider if s.label.startswith("strength")] == [0.0]
