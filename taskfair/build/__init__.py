"""Building a bundle: a base model and a grouped dataset -> base, eval rows, task vectors.

The layers, each a module: ``config`` (what a build depends on, validated by
``config_checks``, hashed), ``dataset`` (load and check the data), ``sampling`` (which
rows), ``targets`` (what trains), ``batchnorm`` and ``rows`` (what the loop needs),
``train`` (FFT and LoRA), ``probe`` (the linear-probe head of the ``head_init: probe``
variant), ``manifest`` (the folder's record and lock), ``steps`` (one artifact each:
``state``, ``groundwork``, ``vector_step``, ``controls``, ``sweep_step``) and
``pipeline`` (:func:`build_bundle`, the steps in order, resumable). ``command`` is
``python -m taskfair build`` and is not imported here.

    from taskfair.build import build_bundle, load_config
    build_bundle(load_config("configs/tiny.yaml"), "models/tiny")
"""

from taskfair.build.config import BuildConfig, DatasetConfig, EvalRows, LoraConfig, load_config
from taskfair.build.pipeline import BuildResult, build_bundle
from taskfair.build.rows import Rows, evaluate_rows
from taskfair.build.sampling import balanced_sample, stratified_sample
from taskfair.build.targets import detect_head_modules, detect_lora_targets, find_blocks, freeze_for
from taskfair.build.train import HParams, LoraHParams, TrainResult, finetune, lora_finetune
from taskfair.errors import BuildError, ConfigError, TrainError

__all__ = [
    "BuildConfig",
    "BuildError",
    "BuildResult",
    "ConfigError",
    "DatasetConfig",
    "EvalRows",
    "HParams",
    "LoraConfig",
    "LoraHParams",
    "Rows",
    "TrainError",
    "TrainResult",
    "balanced_sample",
    "build_bundle",
    "detect_head_modules",
    "detect_lora_targets",
    "evaluate_rows",
    "find_blocks",
    "finetune",
    "freeze_for",
    "load_config",
    "lora_finetune",
    "stratified_sample",
]
