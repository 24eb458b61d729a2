"""`export`: a training checkpoint -> the safetensors weights file the package loads."""

from __future__ import annotations

import os
from pathlib import Path

from napari_dcpt.config import TrainingConfig
from napari_dcpt.models.dcpt import build_model
from napari_dcpt.models.weights import save_weights
from training.engine import load_checkpoint, unwrap_state


def export(
    checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], ema: bool = True
) -> Path:
    """Write the (EMA) network of ``checkpoint`` with config and vocabulary embedded.

    Parameters
    ----------
    checkpoint
        A ``last.pt`` from `training.engine.train` (loaded with ``weights_only=True``).
    out
        Output ``.safetensors`` path.
    ema
        Export the EMA weights when the checkpoint has them (the shipped choice).
    """
    ckpt = load_checkpoint(checkpoint)
    cfg = TrainingConfig.model_validate(ckpt["config"])
    vocab = tuple(ckpt["vocabulary"])
    model = build_model(cfg.model, len(vocab))
    model.load_state_dict(unwrap_state(ckpt, prefer_ema=ema), strict=True)
    meta = {
        "stage": ckpt["stage"],
        "step": ckpt["step"],
        "ema": bool(ema and ckpt.get("ema")),
        "modality": cfg.data.modality,
        "patch_size": cfg.data.patch_size,
        "training_config": cfg.model_dump(mode="json"),
        "checkpoint": Path(checkpoint).name,
    }
    return save_weights(out, model, cfg.model, vocab, meta)
