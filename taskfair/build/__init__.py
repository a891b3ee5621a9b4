"""Building a bundle: config, training, the resumable build pipeline."""

from taskfair.build.config import BuildConfig, DatasetConfig, load_config
from taskfair.build.pipeline import BuildResult, build_bundle, stratified_sample
from taskfair.build.rows import Rows, evaluate_rows
from taskfair.build.targets import detect_head_modules, detect_lora_targets, find_blocks, freeze_for
from taskfair.build.train import HParams, LoraHParams, TrainResult, finetune, lora_finetune
from taskfair.errors import BuildError, ConfigError, TrainError

__all__ = [
    "BuildConfig",
    "BuildError",
    "BuildResult",
    "ConfigError",
    "DatasetConfig",
    "HParams",
    "LoraHParams",
    "Rows",
    "TrainError",
    "TrainResult",
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
