"""The merge engine: ``anchor + sum_g lambda_g * tau_g``, in place, in memory.

A :class:`Merger` owns a *working* model. It clones the anchor weights once (the
model's weights when the merger is made: the base for task addition), in the model's
dtype (bf16 / fp16 on a GPU halve it), moves the task vectors to the model's device and
dtype once, in the form they are stored in, and then every :meth:`Merger.apply`
rewrites only the touched tensors with fused ops: no state-dict rebuild, no reload,
no disk. Dense entries are added with one ``_foreach_add_`` per vector; a compact entry
(a LoRA adapter or a truncated SVD: ``B·A``; a sparse selection) is added by its own
fused op (``addmm_`` / ``index_add_``) without being expanded. A key a vector lacks is a
zero difference. :meth:`Merger.reset` restores the anchor bit-exactly.

Injection into the fully fine-tuned model is the same operation with the FFT vector at
coefficient 1: ``apply({"fft": 1.0, "race": lam})``.

Concurrency: one re-entrant lock guards the working weights. ``apply`` alone takes it
for the write; to *use* the merged weights (evaluate them) without another thread
re-merging under you, hold :meth:`Merger.merged` as a context manager. The merger never
touches any tensor but those of the model it was handed: give it a model no one else
uses (``copy=True`` makes a private deep copy for you).
"""

from __future__ import annotations

import contextlib
import copy as _copy
import math
import threading
from collections.abc import Iterator, Mapping

import torch

from taskfair.errors import VectorError
from taskfair.merge.coefficients import effective_coeffs
from taskfair.vectors import TaskVector
from taskfair.vectors.forms import Entry, entry_to

__all__ = ["Merger"]


class Merger:
    """Set a model's weights to ``anchor + sum_g lambda_g * tau_g`` in place.

    Parameters
    ----------
    model:
        The working model; its current weights become the anchor. It is mutated in
        place, so it must be private to this merger (``copy=True`` deep-copies it).
    vectors:
        ``{name: TaskVector}``; every vector must fit the model (keys and shapes).
    base_fingerprint:
        When given, vectors whose recorded base differs are refused.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        vectors: Mapping[str, TaskVector],
        *,
        copy: bool = False,
        base_fingerprint: str | None = None,
    ):
        self.model = _copy.deepcopy(model) if copy else model
        self._lock = threading.RLock()
        params = dict(self.model.state_dict(keep_vars=True))
        for name, vec in vectors.items():
            vec.meta.setdefault("name", name)
            vec.check_compatible(params, base_fingerprint)
        # Tied weights appear under several keys but are one tensor: merge each
        # storage once, or a tied matrix would receive every vector twice.
        keys = sorted(set().union(*(v.keys() for v in vectors.values()))) if vectors else []
        seen: dict[int, str] = {}
        self._keys: list[str] = []
        for k in keys:
            ident = params[k].data_ptr()
            if ident in seen:
                continue
            seen[ident] = k
            self._keys.append(k)
        self._targets = [
            params[k].data if isinstance(params[k], torch.nn.Parameter) else params[k]
            for k in self._keys
        ]
        # Every key of the vectors (tied aliases too), for prepare()'s check.
        self._index = set(keys)
        self._anchor = [t.detach().clone() for t in self._targets]
        bad = next(
            (
                k
                for k, t in zip(self._keys, self._anchor, strict=True)
                if t.is_floating_point() and not torch.isfinite(t).all()
            ),
            None,
        )
        if bad is not None:
            # Checked once here, with the vectors at load and every coefficient per merge,
            # so that every merged weight is finite.
            raise VectorError(
                f"The anchor model's weights hold NaN or infinite values (at {bad}): the base "
                "model file is damaged. Delete the bundle's base/ folder and rerun the build."
            )
        # Batch-norm running variances are statistics, not weights: a sum of vectors (or
        # lambda > 1) can push one below 0, where BN would take the square root of a
        # negative number. Merged variances are clamped at 0 (BN adds its eps).
        self._variances = [
            t for k, t in zip(self._keys, self._targets, strict=True) if k.endswith("running_var")
        ]
        self.vectors: dict[str, list[Entry | None]] = self.prepare(vectors)
        self.current: dict[str, float] = {}

    def prepare(self, vectors: Mapping[str, TaskVector]) -> dict[str, list[Entry | None]]:
        """Vectors as :meth:`apply` uses them: per merged tensor, a dense tensor or a
        compact form (on the model's device and dtype, still compact), or None where a
        vector lacks the key (zero). Vectors of the model's own keys only; the result may
        be passed to ``apply(..., vectors=)`` to merge transformed vectors (TIES, DARE)
        under the names of the raw ones."""
        out = {}
        for name, vec in vectors.items():
            unknown = [k for k in vec.keys() if k not in self._index]
            if unknown:
                raise VectorError(
                    f"The vector {name!r} has keys this merger does not merge (e.g. "
                    f"{unknown[:3]}): transform vectors of the same model."
                )
            out[name] = [
                entry_to(vec.entry(k), device=t.device, dtype=t.dtype) if k in vec else None
                for k, t in zip(self._keys, self._targets, strict=True)
            ]
        return out

    @property
    def names(self) -> list[str]:
        return list(self.vectors)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def _resolve(
        self, coeffs: Mapping[str, float], normalize: str, vectors: Mapping | None = None
    ) -> dict[str, float]:
        unknown = [n for n in coeffs if n not in self.vectors and n not in (vectors or {})]
        if unknown:
            raise VectorError(f"Unknown task vector(s) {unknown}; available: {self.names}.")
        odd = {n: c for n, c in coeffs.items() if not math.isfinite(float(c))}
        if odd:
            raise VectorError(
                f"Coefficients must be finite numbers; got {odd}. Give each λ as a number, "
                "e.g. 0.3."
            )
        return {n: c for n, c in effective_coeffs(coeffs, normalize).items() if c != 0.0}

    @torch.no_grad()
    def apply(
        self,
        coeffs: Mapping[str, float],
        normalize: str = "sum",
        vectors: Mapping[str, list] | None = None,
    ) -> torch.nn.Module:
        """Set the working weights to ``anchor + sum coeffs[g] * tau_g``; return the model.

        Vectors not named keep coefficient 0. Costs one copy plus one fused
        multiply-add per named vector over the touched tensors (one ``addmm_`` or
        ``index_add_`` per compact entry). ``vectors`` (from :meth:`prepare`) replaces the
        merger's own vectors of the same names for this merge (a merge method's
        transformed vectors).
        """
        resolved = self._resolve(coeffs, normalize, vectors)
        own = {**self.vectors, **(vectors or {})}
        with self._lock:
            torch._foreach_copy_(self._targets, self._anchor)
            for name, lam in resolved.items():
                pairs = []
                for t, d in zip(self._targets, own[name], strict=True):
                    if isinstance(d, torch.Tensor):
                        pairs.append((t, d))
                    elif d is not None:
                        d.add_to_(t, lam)
                if pairs:
                    ts, ds = zip(*pairs, strict=True)
                    torch._foreach_add_(list(ts), list(ds), alpha=lam)
            if self._variances and resolved:
                torch._foreach_clamp_min_(self._variances, 0.0)
            self.current = dict(coeffs)
        return self.model

    @torch.no_grad()
    def reset(self) -> torch.nn.Module:
        """Restore the anchor weights bit-exactly."""
        with self._lock:
            torch._foreach_copy_(self._targets, self._anchor)
            self.current = {}
        return self.model

    @contextlib.contextmanager
    def merged(
        self,
        coeffs: Mapping[str, float],
        normalize: str = "sum",
        vectors: Mapping[str, list] | None = None,
    ) -> Iterator[torch.nn.Module]:
        """Hold the lock, merge, and yield the model: no other caller can re-merge
        until the block ends (evaluate inside it). ``vectors``: as in :meth:`apply`."""
        with self._lock:
            yield self.apply(coeffs, normalize, vectors)
