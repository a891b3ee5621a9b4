"""TIES, DARE and magnitude pruning as registry entries: their invariants on tiny models
built in code, the evaluator merging their transformed vectors, and their cache keys."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_sweep import GROUPS, make_evaluator, parts  # noqa: F401 (fixture)
from tiny_models import perturbed, tiny_bert

from taskfair.merge import Merger, curve_methods, get_method
from taskfair.merge.transforms import dare, magnitude_trim, ties, top_k_mask
from taskfair.sweep import PointKeys, PointStore, curve_settings, method_mix, method_setting
from taskfair.vectors import TaskVector

NEW = ("ties", "dare", "magnitude")


def _vec(values) -> TaskVector:
    return TaskVector({"w": torch.tensor(values, dtype=torch.float64)})


@pytest.fixture(scope="module")
def agreeing():
    """A tiny BERT and two vectors with the same sign at every entry (no sign conflict,
    no zero), plus a third with random signs."""
    base = tiny_bert(0)
    a = TaskVector.from_models(base, perturbed(base, seed=1))
    gen = torch.Generator().manual_seed(7)
    b = TaskVector(
        {
            k: torch.sign(t) * (torch.rand(t.shape, generator=gen) * 0.01 + 1e-4)
            for k, t in a.items()
        }
    )
    c = TaskVector.from_models(base, perturbed(base, seed=3))
    return base, {"a": a, "b": b}, c


def _merged(base, vectors, coeffs, normalize, method=None, params=None):
    merger = Merger(copy.deepcopy(base), vectors)
    extra = None
    if method is not None:
        extra = merger.prepare(get_method(method).transform_vectors(vectors, params))
    merger.apply(coeffs, normalize, extra)
    return {k: v.clone() for k, v in merger.model.state_dict().items()}


def _equal(x, y):
    assert x.keys() == y.keys()
    for k in x:
        assert torch.equal(x[k], y[k]), k


def test_ties_at_k_100_without_sign_conflicts_is_task_addition(agreeing):
    base, vecs, _ = agreeing
    out = ties(vecs, 100.0)
    for n in vecs:  # nothing trimmed, nothing elected away: the vectors themselves
        for k, t in vecs[n].items():
            assert torch.equal(out[n][k], t), (n, k)
    for normalize in ("mean", "sum"):
        coeffs = {"a": 0.7, "b": 0.7}
        _equal(
            _merged(base, vecs, coeffs, normalize, "ties", {"k": 100.0}),
            _merged(base, vecs, coeffs, normalize),
        )


def test_ties_trims_elects_and_takes_the_disjoint_mean_of_a_hand_worked_case():
    vecs = {
        "a": _vec([1.0, -2.0, 3.0, 0.0]),
        "b": _vec([2.0, 1.5, -1.0, 0.0]),
        "c": _vec([-1.0, 1.2, 2.0, 0.0]),
    }
    # k = 100: signs by mass [2, 0.7, 4, 0] -> [+, +, +, 0]; agreeing entries averaged.
    mean = sum(t["w"] for t in ties(vecs, 100.0).values()) / 3
    torch.testing.assert_close(mean, torch.tensor([1.5, 1.35, 2.5, 0.0], dtype=torch.float64))
    # k = 50: each keeps its 2 largest: a [0,-2,3,0], b [2,1.5,0,0], c [0,1.2,2,0];
    # mass [2, 0.7, 5, 0] -> a's -2 disagrees and is dropped.
    out = ties(vecs, 50.0)
    torch.testing.assert_close(out["a"]["w"], torch.tensor([0, 0, 3 * 3 / 2, 0.0]).double())
    mean = sum(t["w"] for t in out.values()) / 3
    torch.testing.assert_close(mean, torch.tensor([2.0, 1.35, 2.5, 0.0], dtype=torch.float64))


def test_magnitude_keeps_the_top_k_percent_of_each_tensor(agreeing):
    _, vecs, _ = agreeing
    out = magnitude_trim(vecs, 30.0)
    for n, vec in vecs.items():
        for k, t in vec.items():
            kept = out[n][k] != 0
            assert int(kept.sum()) == int(np.ceil(0.3 * t.numel())), (n, k)
            assert torch.equal(out[n][k][kept], t[kept])
            if (~kept).any() and kept.any():
                assert t[~kept].abs().max() <= t[kept].abs().min()
    assert top_k_mask(torch.ones(3), 100.0).all()
    with pytest.raises(ValueError, match="percentage"):
        top_k_mask(torch.ones(3), 0.0)


def test_dare_at_p_0_is_task_addition_and_a_seed_gives_one_model(agreeing):
    base, vecs, c = agreeing
    vecs = {**vecs, "c": c}
    coeffs = {"a": 0.5, "b": 0.5, "c": 0.5}
    _equal(
        _merged(base, vecs, coeffs, "sum", "dare", {"p": 0.0, "seed": 3}),
        _merged(base, vecs, coeffs, "sum"),
    )
    one = _merged(base, vecs, coeffs, "sum", "dare", {"p": 0.6, "seed": 3})
    _equal(one, _merged(base, vecs, coeffs, "sum", "dare", {"p": 0.6, "seed": 3}))
    other = _merged(base, vecs, coeffs, "sum", "dare", {"p": 0.6, "seed": 4})
    assert any(not torch.equal(one[k], other[k]) for k in one)
    # A vector's mask does not depend on which other vectors are merged with it.
    alone = dare({"a": vecs["a"]}, 0.6, 3)["a"]
    together = dare(vecs, 0.6, 3)["a"]
    assert all(torch.equal(alone[k], together[k]) for k in alone.keys())


def test_dare_drops_at_rate_p_and_rescales_the_rest(agreeing):
    _, vecs, _ = agreeing
    p = 0.6
    out = dare(vecs, p, 11)
    kept = total = 0
    for n, vec in vecs.items():
        for k, t in vec.items():
            keep = out[n][k] != 0
            torch.testing.assert_close(out[n][k][keep], t[keep] / (1 - p))
            kept, total = kept + int(keep.sum()), total + t.numel()
    # Binomial: the kept share is 1 - p within 6 standard errors.
    assert abs(kept / total - (1 - p)) < 6 * np.sqrt(p * (1 - p) / total)
    with pytest.raises(ValueError, match="drop rate"):
        dare(vecs, 1.0, 0)


@pytest.mark.parametrize("name", ["task_addition", *NEW])
def test_lambda_zero_gives_the_anchor_bit_exactly(agreeing, name):
    base, vecs, _ = agreeing
    ref = {k: v.clone() for k, v in base.state_dict().items()}
    method = get_method(name)
    params = method.resolve(list(vecs), {"lam": 0.0})
    coeffs = method.coeffs(list(vecs), params)
    merger = Merger(copy.deepcopy(base), vecs)
    merger.apply({"a": 0.9, "b": -0.4})  # dirty the working weights first
    extra = merger.prepare(method.transform_vectors(vecs, params))
    merger.apply(coeffs, params["normalize"], extra)
    _equal({k: v for k, v in merger.model.state_dict().items()}, ref)


def test_the_methods_are_registered_curves_with_declared_parameters():
    names = [m.name for m in curve_methods()]
    assert set(NEW) <= set(names)
    assert [p.name for p in get_method("ties").own_params] == ["k"]
    assert [p.name for p in get_method("dare").own_params] == ["p", "seed"]
    with pytest.raises(ValueError, match="outside"):
        method_setting("dare", GROUPS, {"p": 1.0})
    with pytest.raises(ValueError, match="whole number"):
        method_setting("dare", GROUPS, {"seed": 1.5})


def test_keys_follow_the_method_and_its_parameters():
    keys = PointKeys("base", lambda n: f"fp-{n}", {"val": "d"}, "g", 32, "torch.float32", 0)
    ta = method_setting("task_addition", GROUPS, {"lam": 0.5})
    t20, t50 = (curve_settings("ties", GROUPS, [0.5], "sum", {"k": k})[0] for k in (20, 50))
    d0, d1 = (curve_settings("dare", GROUPS, [0.5], "sum", {"seed": s})[0] for s in (0, 1))
    assert ta.coeffs == t20.coeffs == d0.coeffs
    assert len({keys.key(s, "val") for s in (ta, t20, t50, d0, d1)}) == 5
    # A mix of a transform method names every vector and keeps its parameters; equal λ
    # is the curve point itself.
    mix = method_mix("ties", GROUPS, {"women": 0.2}, "sum", {"k": 50})
    assert mix.coeff_dict == {"women": 0.2, "men": 0.0} and mix.param_dict == {"k": 50.0}
    assert method_mix("ties", GROUPS, {"women": 0.5, "men": 0.5}, "sum", {"k": 50}) == t50
    assert method_mix("task_addition", GROUPS, {"women": 0.2, "men": 0.4}).method == "per_vector"


def test_the_evaluator_merges_the_transformed_vectors_and_caches_one_set(parts):  # noqa: F811
    ev = make_evaluator(parts)
    base, _, vecs, _ = parts
    subgroup = {g: vecs[g] for g in GROUPS}
    setting = method_mix("ties", GROUPS, {"women": 0.8, "men": 0.3}, "sum", {"k": 30})
    got = ev.setting_logits(setting, ["val"])["val"]
    # The same merge by hand: a fresh merger over the transformed vectors.
    reference = make_evaluator(parts, vectors=ties(subgroup, 30.0))
    np.testing.assert_array_equal(got, reference.logits(setting.coeff_dict, "val"))
    assert not np.array_equal(got, ev.logits(setting.coeff_dict, "val"))  # raw vectors differ
    # A linear setting goes through the raw vectors.
    plain = method_mix("task_addition", GROUPS, {"women": 0.8, "men": 0.3})
    np.testing.assert_array_equal(
        ev.setting_logits(plain, ["val"])["val"], ev.logits(plain.coeff_dict, "val")
    )
    # Bounded: another parameter value replaces the kept set.
    ev.setting_logits(method_mix("dare", GROUPS, {"women": 0.5}, "sum", {"p": 0.3}), ["val"])
    assert len(ev._transformed) == 1
    # The store keys the points on the parameters: two k, two points.
    store = PointStore.for_evaluator(ev)
    other = method_mix("ties", GROUPS, {"women": 0.8, "men": 0.3}, "sum", {"k": 60})
    a, b = store.evaluate(setting, "val"), store.evaluate(other, "val")
    assert store.key(setting, "val") != store.key(other, "val")
    assert a["accuracy"].tolist() == store.rows(setting, "val")["accuracy"].tolist()
    np.testing.assert_array_equal(store.logits(setting, "val"), got)
    assert b is not None
