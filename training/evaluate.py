"""`evaluate`: PSNR/SSIM and classification accuracy per degradation type and severity.

Deterministic: every validation sample has a fixed seed, so two evaluations of the
same weights on the same data give the same table. Writes ``eval.md``,
``eval.json`` and ``confusion.png`` (single-type samples, argmax prediction).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_dcpt.config import TrainingConfig, load_training_config
from napari_dcpt.models import SEVERITY_NAMES
from training import data as tdata
from training.engine import VAL_SEED_OFFSET, Dist, build_data, load_checkpoint, unwrap_state

EVAL_SEED_OFFSET = 2 * VAL_SEED_OFFSET


def _load_model(checkpoint: str | os.PathLike[str]) -> tuple[Any, TrainingConfig | None, tuple]:
    if str(checkpoint).endswith(".safetensors"):
        from napari_dcpt.models import load_weights, read_metadata

        model, _, vocab = load_weights(checkpoint)
        tc = read_metadata(checkpoint)["extra"].get("training_config")
        return model, TrainingConfig.model_validate(tc) if tc else None, vocab
    from napari_dcpt.models.dcpt import build_model

    ckpt = load_checkpoint(checkpoint)
    cfg = TrainingConfig.model_validate(ckpt["config"])
    vocab = tuple(ckpt["vocabulary"])
    model = build_model(cfg.model, len(vocab))
    model.load_state_dict(unwrap_state(ckpt))
    return model.eval(), cfg, vocab


def evaluate(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    samples: int = 8,
    data_root: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint or weights file on the validation split.

    Parameters
    ----------
    checkpoint
        ``last.pt`` (EMA weights used when present) or an exported ``.safetensors``.
    out
        Output folder.
    config
        Training config for the data section (default: the one in the checkpoint).
    samples
        Slices per (type, severity) condition, one centre patch each.

    Returns
    -------
    dict
        The JSON written to ``eval.json``: ``rows`` (per condition) and ``confusion``.
    """
    from monai.metrics import PSNRMetric, SSIMMetric

    torch.set_num_threads(threads or 1)
    model, cfg_ckpt, vocab = _load_model(checkpoint)
    cfg = load_training_config(config) if config else cfg_ckpt
    if cfg is None:
        raise SystemExit("evaluate: give --config (the weights file has no training config)")
    # --config gives the data; the network (a 2.5-D one reads 3 slices) is the model's own
    cfg = cfg.model_copy(update={"model": model.config})
    if data_root:
        cfg.data.root = data_root
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    _, val_vols, _, _ = build_data(cfg, outp, Dist())
    deg = tdata.degradations()
    conditions: list[tuple[str, str | None, dict]] = [("clean", None, {"p_clean": 1.0})]
    for t in vocab[1:]:
        for sev in deg.SEVERITIES:
            conditions.append(
                (t, sev, {"types": (t,), "severity": sev, "p_clean": 0.0, "p_mix": 0.0})
            )
    conditions.append(("mixed", None, {"p_clean": 0.0, "p_mix": 1.0}))
    psnr = PSNRMetric(max_val=1.0, reduction="none")
    ssim = SSIMMetric(spatial_dims=cfg.model.spatial_dims, data_range=1.0, reduction="none")
    confusion = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    rows = []
    for ci, (name, sev, kw) in enumerate(conditions):
        ds = tdata.PatchDataset(
            val_vols,
            cfg,
            cfg.finetune.degradations,
            vocab,
            cfg.seed + EVAL_SEED_OFFSET + 7919 * ci,
            patches=1,
            record_kwargs=kw,
        )
        batch = tdata.collate([ds[i] for i in range(samples)])
        c = cfg.model.in_slices // 2 if cfg.model.spatial_dims == 2 else 0
        target = batch["clean"][:, c : c + 1]
        with torch.no_grad():
            restored, logits, sev_logits = model(batch["degraded"], return_aux=True)
        restored = restored.clamp(0, 1.5)
        degraded = batch["degraded"][:, c : c + 1]
        pred = torch.sigmoid(logits) > 0.5
        lab = batch["label"] > 0.5
        row = {
            "condition": name,
            "severity": sev,
            "n": samples,
            "psnr_degraded": float(psnr(degraded, target).mean()),
            "psnr_restored": float(psnr(restored, target).mean()),
            "ssim_degraded": float(ssim(degraded, target).mean()),
            "ssim_restored": float(ssim(restored, target).mean()),
            "acc_exact": float((pred == lab).all(1).float().mean()),
        }
        if sev is not None and sev_logits is not None:
            ti = vocab.index(name)
            row["acc_severity"] = float(
                (sev_logits[:, ti].argmax(-1) == batch["severity"][:, ti]).float().mean()
            )
        if name != "mixed":
            truth = vocab.index(name)
            for p in logits.argmax(1).tolist():
                confusion[truth, p] += 1
        rows.append(row)
    result = {
        "vocabulary": list(vocab),
        "rows": rows,
        "confusion": confusion.tolist(),
        "severities": list(SEVERITY_NAMES),
    }
    (outp / "eval.json").write_text(json.dumps(result, indent=1))
    (outp / "eval.md").write_text(_markdown(rows))
    _plot_confusion(confusion, vocab, outp / "confusion.png")
    return result


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _markdown(rows: list[dict]) -> str:
    cols = [
        "condition",
        "severity",
        "n",
        "psnr_degraded",
        "psnr_restored",
        "ssim_degraded",
        "ssim_restored",
        "acc_exact",
        "acc_severity",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _plot_confusion(confusion: np.ndarray, vocab: tuple, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(vocab), 1 + 0.6 * len(vocab)))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(vocab)), vocab, rotation=60, ha="right")
    ax.set_yticks(range(len(vocab)), vocab)
    ax.set_xlabel("predicted (argmax)")
    ax.set_ylabel("true (single-type samples)")
    for i in range(len(vocab)):
        for j in range(len(vocab)):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
