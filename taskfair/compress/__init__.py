"""Compact task vectors: how to compress a dense vector, and how close it stays.

``spec`` (:class:`CompressSpec`: form, rank or energy, density, drop rate, storage
dtype), ``methods`` (truncated SVD, top-k magnitude, DARE; :func:`compress_vector`),
``fidelity`` (:func:`measure_fidelity`: agreement, |Δaccuracy|, |ΔDPD|, |ΔEOD| of merges
at λ ∈ {0.3, 0.5, 1} against the dense vector). ``command`` (``python -m taskfair
compress``: a compressed copy of a bundle with its fidelity in the manifest) is not
imported here.
"""

from taskfair.compress.fidelity import (
    FIDELITY_LAMS,
    compare_predictions,
    measure_fidelity,
    worst_of,
)
from taskfair.compress.methods import compress_entry, compress_vector, dare, low_rank, top_k
from taskfair.compress.spec import COMPRESS_FORMS, STORAGE_DTYPES, CompressSpec

__all__ = [
    "COMPRESS_FORMS",
    "FIDELITY_LAMS",
    "STORAGE_DTYPES",
    "CompressSpec",
    "compare_predictions",
    "compress_entry",
    "compress_vector",
    "dare",
    "low_rank",
    "measure_fidelity",
    "top_k",
    "worst_of",
]
