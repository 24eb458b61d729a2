"""Weights files: safetensors with the model config, vocabulary and a checksum embedded.

A file alone rebuilds its network. Nothing here ever unpickles: tensors come from
safetensors and metadata is JSON. A file whose tensors do not match its embedded
config, or whose bytes were altered or cut short, is refused with `WeightsError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_dcpt.config import ModelConfig, model_config_from_json
from napari_dcpt.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    import torch

    from napari_dcpt.models.dcpt import DCPTNet

FORMAT = "napari-dcpt-weights"
FORMAT_VERSION = "1"


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes (safetensors itself has no checksum)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_weights(
    path: str | PathLike[str],
    model: DCPTNet,
    config: ModelConfig,
    vocabulary: Sequence[str],
    extra_meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights with its config and vocabulary embedded.

    Parameters
    ----------
    path
        Output ``.safetensors`` file (written to a temporary file, then renamed).
    model
        The network (e.g. the EMA copy); its ``state_dict`` is saved as float32.
    config
        The configuration that rebuilds ``model``.
    vocabulary
        Degradation names of the classifier outputs, ``clean`` first.
    extra_meta
        JSON-serialisable provenance (training command, metrics, data).
    """
    import os

    from safetensors.torch import save_file

    vocab = list(vocabulary)
    if len(vocab) != model.classifier.n_classes:
        raise ValueError(
            f"vocabulary: {len(vocab)} names for {model.classifier.n_classes} classifier outputs"
        )
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": config.model_dump_json(),
        "vocabulary": json.dumps(vocab),
        "extra": json.dumps(dict(extra_meta or {}), default=str),
        "sha256": _digest(tensors),
    }
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out)
    return out


def read_metadata(path: str | PathLike[str]) -> dict[str, Any]:
    """The embedded metadata of a weights file (config as dict, vocabulary, extra).

    Raises
    ------
    WeightsError
        The file is missing, not a safetensors file, or not one of ours.
    """
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsError("weights file not found", p)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise WeightsError(f"not a readable safetensors file ({err})", p) from None
    if meta.get("format") != FORMAT:
        raise WeightsError("not a napari-dcpt weights file (no embedded config)", p)
    try:
        return {
            "model_config": json.loads(meta["model_config"]),
            "vocabulary": json.loads(meta["vocabulary"]),
            "extra": json.loads(meta.get("extra", "{}")),
            "sha256": meta.get("sha256", ""),
            "format_version": meta.get("format_version", ""),
        }
    except (KeyError, json.JSONDecodeError) as err:
        raise WeightsError(f"corrupt embedded metadata ({err})", p) from None


def load_weights(
    path: str | PathLike[str], device: str | torch.device = "cpu"
) -> tuple[DCPTNet, ModelConfig, tuple[str, ...]]:
    """Rebuild the network from a weights file alone.

    Returns
    -------
    model, config, vocabulary
        The network in eval mode on ``device``, its `ModelConfig` and the degradation
        vocabulary (classifier output order).

    Raises
    ------
    WeightsError
        Missing, truncated or tampered file, or tensors that do not match the
        embedded config (missing/unexpected keys, shape mismatch).
    """
    from safetensors.torch import load_file

    from napari_dcpt.models.dcpt import build_model

    p = Path(path)
    meta = read_metadata(p)
    try:
        config = model_config_from_json(json.dumps(meta["model_config"]), p)
    except ConfigError as err:
        raise WeightsError(f"embedded model config is invalid ({err.reason})", p) from None
    vocab = meta["vocabulary"]
    if not isinstance(vocab, list) or not vocab or not all(isinstance(v, str) for v in vocab):
        raise WeightsError("embedded vocabulary is not a non-empty list of names", p)
    try:
        tensors = load_file(str(p), device="cpu")
    except Exception as err:  # truncated data section, bad offsets
        raise WeightsError(f"tensor data unreadable, file truncated? ({err})", p) from None
    if meta["sha256"] != _digest(tensors):
        raise WeightsError("checksum mismatch: the tensors were altered after saving", p)
    model = build_model(config, len(vocab))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"tensors do not match the embedded config: missing {missing[:3]}"
            f"{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
            f"{'...' if len(unexpected) > 3 else ''}",
            p,
        )
    bad = [k for k in expected if tuple(expected[k].shape) != tuple(tensors[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsError(
            f"shape mismatch for {k}: file {tuple(tensors[k].shape)}, "
            f"config {tuple(expected[k].shape)} ({len(bad)} tensors differ)",
            p,
        )
    model.load_state_dict(tensors, strict=True)
    model.to(device).eval()
    return model, config, tuple(vocab)


def rewrite_extra(
    path: str | PathLike[str], out: str | PathLike[str], updates: Mapping[str, Any]
) -> Path:
    """Copy a weights file to ``out`` with ``updates`` merged into its ``extra`` metadata.

    The file is verified and rebuilt by `load_weights` (a tampered or truncated one is
    refused), then written by `save_weights`: the tensors, and so their checksum, are
    unchanged, so a calibration table can be added without retraining. ``out`` may be
    ``path`` itself.
    """
    model, config, vocab = load_weights(path)
    extra = {**read_metadata(path)["extra"], **updates}
    return save_weights(out, model, config, vocab, extra)
