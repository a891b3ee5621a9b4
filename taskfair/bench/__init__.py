"""``python -m taskfair bench``: the paper's per-λ pipeline against ours, on text or images.

One driver (:mod:`~taskfair.bench.driver`) runs the measured phases
(:mod:`~taskfair.bench.phases`) in child processes for any modality; a modality
(:mod:`~taskfair.bench.text`, :mod:`~taskfair.bench.image`) supplies what differs
(:class:`~taskfair.bench.modality.Modality`). The probes (:mod:`~taskfair.bench.probes`)
and the encoder's FLOP model (:mod:`~taskfair.bench.flops`) are usable on their own.
The CLI's options are in :mod:`~taskfair.bench.command`.
"""

from taskfair.bench.driver import run_bench, table
from taskfair.bench.flops import ENCODER_FLOPS_FORMULA, encoder_flops, encoder_shape
from taskfair.bench.modality import MODALITIES, Modality, bundle_modality
from taskfair.bench.probes import PeakRss, matmul_gflops, max_rss_mb
from taskfair.bench.workload import Workload

__all__ = [
    "ENCODER_FLOPS_FORMULA",
    "MODALITIES",
    "Modality",
    "PeakRss",
    "Workload",
    "bundle_modality",
    "encoder_flops",
    "encoder_shape",
    "matmul_gflops",
    "max_rss_mb",
    "run_bench",
    "table",
]
