"""Classifiers behind one interface, for text and for images.

A :class:`ModelHandle` pairs a ``torch.nn.Module`` whose forward returns two-class
logits with the processor that turns raw inputs into model inputs (a tokenizer for
text, an image preprocessor for images) and a JSON-able ``spec``.

Rules kept here, once:

* the classification head is new for every pretrained backbone: it is initialised
  from a seeded generator (independent of the global RNG), and saved with the base, so
  that every fine-tune starts from the same head;
* weights are read from safetensors only (the packaged EfficientNet pickle is read once,
  with ``weights_only=True``, to convert it); ``trust_remote_code`` is never set;
* device choice is cuda > mps > cpu unless overridden (argument or ``TASKFAIR_DEVICE``).

Modules, each importing only modules listed before it:

* ``handle``: :class:`ModelHandle`, device and dtype choice, logits, float state,
  fingerprints;
* ``vision``: the EfficientNet-Lite0 module; ``preprocessing``: image files → tensors;
  ``flops``: FLOPs per image; ``pixels``: a bundle's decoded evaluation images on disk;
* ``weights``: EfficientNet-Lite0's packaged pickle → safetensors, and its files;
* ``huggingface``: Hugging Face text and image classifiers and their processors;
* ``loading``: :func:`load_model`, :func:`save_base`, :func:`load_base`;
* ``heads``: a seed's own classification head, put on the base (``seed_draws: rows+head``).

Import from here (``from taskfair.models import load_base``), not from the modules.
"""

from __future__ import annotations

from taskfair.errors import ModelLoadError
from taskfair.models.flops import conv_flops
from taskfair.models.handle import (
    ModelHandle,
    float_state,
    logits_of,
    resolve_device,
    resolve_dtype,
    state_fingerprint,
)
from taskfair.models.huggingface import load_processor
from taskfair.models.loading import (
    BASE_SPEC_FILE,
    KNOWN_MODELS,
    load_base,
    load_model,
    save_base,
)
from taskfair.models.heads import (
    HEADS_DIR,
    apply_head_,
    head_names,
    load_head,
    save_head,
    seeded_head,
    with_head,
)
from taskfair.models.pixels import (
    PIXELS_FILE,
    cached_decode,
    keep_decoded,
    load_pixels,
    pixel_key,
    save_pixels,
)
from taskfair.models.preprocessing import (
    HFImagePreprocessor,
    ImagePreprocessor,
    preprocessor_from_spec,
)
from taskfair.models.vision import EfficientNetLite0
from taskfair.models.weights import (
    convert_pretrained,
    imagenet_model_from_pickle,
    load_efficientnet,
    load_pretrained_efficientnet,
    save_efficientnet,
)

__all__ = [
    # the handle and what every model shares
    "ModelHandle",
    "ModelLoadError",
    "float_state",
    "logits_of",
    "resolve_device",
    "resolve_dtype",
    "state_fingerprint",
    # loading and the base folder
    "BASE_SPEC_FILE",
    "KNOWN_MODELS",
    "load_base",
    "load_model",
    "load_processor",
    "save_base",
    # per-seed classification heads
    "HEADS_DIR",
    "apply_head_",
    "head_names",
    "load_head",
    "save_head",
    "seeded_head",
    "with_head",
    # EfficientNet-Lite0 and its weights
    "EfficientNetLite0",
    "convert_pretrained",
    "imagenet_model_from_pickle",
    "load_efficientnet",
    "load_pretrained_efficientnet",
    "save_efficientnet",
    # images
    "HFImagePreprocessor",
    "ImagePreprocessor",
    "preprocessor_from_spec",
    "conv_flops",
    # the decoded evaluation pixels a bundle keeps
    "PIXELS_FILE",
    "cached_decode",
    "keep_decoded",
    "load_pixels",
    "pixel_key",
    "save_pixels",
]
