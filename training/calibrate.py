"""`calibrate`: how much of the network's change to trust, per degradation type and severity.

`napari_dcpt.inference.restore` applies ``strength x (network - input)``. With no
calibration the strength is the report's belief that something is wrong,
``1 - p(clean)``: it assumes the network's output is the right answer for every type it
was trained on. It is not: a small patch-trained network that detects a bias field may
still be unable to remove it, and then every bit of its change is harm.

This module measures, for each type and severity, the least-squares share of the
network's change that moves a degraded slice towards its clean original,

    g = <net - x, clean - x> / <net - x, net - x>     (clipped to 0..1),

pooled over whole slices of volumes the network was *not* trained on, and embeds
the table in the weights file. On the volumes it was trained on, a small network
looks far better than it is: the shipped MR model's change helps ghosting and
undersampling on its five training volumes (gain near 1) and on no unseen one
(gain 0). The default set is the weights' validation split; the shipped models used
volumes outside both splits, so that the benchmarks' held-out volumes stay unseen
(weights/MODEL_CARD.md).

The table is indexed by the severity the degradation registry drew, and for CT low
dose that is a dose, not a noise level: the same "mild" gives 4 HU of noise on a
128 px spine crop and 21 HU on a chest. A table measured on small or weakly
attenuating objects therefore trusts the low-dose correction less than a chest CT
would need; the model card gives the numbers. `restore` then
uses the report's probabilities to average the table (docs/architecture.md). A type
the network cannot fix gets a gain near 0, so the scan is left as it came in.

No library fits this shrinkage factor for a restoration network, so it is written
here; the formula is one inner product.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_dcpt.degradations import SEVERITIES, apply_record, sample_record
from napari_dcpt.errors import DcptError

MR_FOREGROUND = 0.10  # of the 99.5th percentile: the same mask as the benchmarks
CT_BODY_HU = -500.0
MAX_INPLANE = 256  # px; MR slices are centre-cropped to this (CT keeps whole slices)


def _slabs(path: Path, modality: str, slices: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """``slices`` consecutive central slices of a volume, and its spacing (mm)."""
    from napari_dcpt import io

    vol = io.read(path, modality=modality)
    arr = np.asarray(vol.array, dtype=np.float32)
    spacing = tuple(float(s) for s in vol.spacing)
    if arr.ndim == 2:  # a single-slice file (one DICOM image)
        arr, spacing = arr[None], (1.0, *spacing)
    z0 = max(0, arr.shape[0] // 2 - slices // 2)
    arr = arr[z0 : z0 + slices]
    if modality == "MR":
        h, w = arr.shape[1:]
        y0, x0 = max(0, (h - MAX_INPLANE) // 2), max(0, (w - MAX_INPLANE) // 2)
        arr = arr[:, y0 : y0 + MAX_INPLANE, x0 : x0 + MAX_INPLANE]
    return np.ascontiguousarray(arr), spacing


def _mask(clean: np.ndarray, modality: str) -> np.ndarray:
    if modality == "CT":
        return clean > CT_BODY_HU
    return clean > MR_FOREGROUND * float(np.percentile(clean, 99.5))


def calibrate(
    weights: str | os.PathLike[str],
    volumes: Sequence[str | os.PathLike[str]],
    *,
    repeats: int = 2,
    slices: int = 4,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure the per-type, per-severity gain table of a weights file.

    Parameters
    ----------
    weights
        The ``.safetensors`` file to calibrate (its modality is read from it).
    volumes
        Volumes (files or DICOM folders) the network was not trained on.
    repeats
        Independent degradation draws per volume, type and severity.
    slices
        Central slices per volume that each draw degrades and restores.
    seed
        Base seed of the degradation draws.

    Returns
    -------
    dict
        ``{"gain": {type: [mild, moderate, severe]}, "recall": {type: [...]}, "cases": n,
        "volumes": [...], "clean_change": relative rms change of clean slices,
        "seconds": t}``. ``recall`` is the share of each type's degraded cases in which
        the report (computed by the same `restore` call) named it. ``removed`` is the
        share of the degradation's squared error (against the clean slices, in the
        mask) that applying ``gain`` x the change takes away: what a user sees. A gain of
        1 says all of the change helps, not that the change is large; ``removed`` says
        how much of the artefact goes (0.1 is about +0.46 dB).
    """
    from napari_dcpt.inference.engine import load_model, restore, run
    from napari_dcpt.volume import Volume

    if not volumes:
        raise DcptError("calibration needs at least one volume")
    lm = load_model(weights, device="cpu")
    mod = lm.modality
    if mod not in ("MR", "CT"):
        raise DcptError(f"weights file has no MR/CT modality ({mod!r})", lm.path)
    t0 = time.perf_counter()
    num: dict[tuple[str, str], float] = {}
    den: dict[tuple[str, str], float] = {}
    err: dict[tuple[str, str], float] = {}  # the degraded input's squared error
    clean_change: list[float] = []
    types = [t for t in lm.vocabulary if t != "clean"]

    named: dict[tuple[str, str], int] = {}

    def net_change(x: np.ndarray, scale: float) -> tuple[np.ndarray, set[str]]:
        """The network's full change to ``x`` (in units of the volume's intensity scale)
        and the types its report names."""
        vol = Volume(x, modality=mod)  # type: ignore[arg-type]
        res = run(restore(vol, model=lm, scale_by_report=False, threads=threads))
        found = {f.type for f in res.report.detected}
        return (np.asarray(res.volume.array, np.float32) - x) / scale, found

    for vi, path in enumerate(volumes):
        clean, spacing = _slabs(Path(path), mod, slices)
        mask = _mask(clean, mod)
        if mask.sum() < 64:
            raise DcptError("no foreground in the central slices to calibrate on", path)
        # per-volume intensity units, so that every volume weighs the same in the pools
        scale = float(np.percentile(clean[mask], 99.5)) if mod == "MR" else 2000.0
        d0, _ = net_change(clean, scale)
        clean_change.append(float(np.sqrt(np.mean(d0[mask] ** 2))))
        for ti, t in enumerate(types):
            for si, sev in enumerate(SEVERITIES):
                for r in range(repeats):
                    s = seed + 100_000 * vi + 1000 * ti + 10 * si + r
                    rec = sample_record(mod, s, types=(t,), severity=sev, p_clean=0)
                    x = np.asarray(apply_record(clean, rec, spacing), dtype=np.float32)
                    d, found = net_change(x, scale)
                    d = d[mask]
                    named[t, sev] = named.get((t, sev), 0) + (t in found)
                    target = ((clean - x) / scale)[mask]
                    # means, not sums: a 512 px CT slice must not outweigh a 128 px one
                    num[t, sev] = num.get((t, sev), 0.0) + float(np.dot(d, target)) / d.size
                    den[t, sev] = den.get((t, sev), 0.0) + float(np.dot(d, d)) / d.size
                    err[t, sev] = err.get((t, sev), 0.0) + float(np.dot(target, target)) / d.size
    gain = {
        t: [
            round(float(np.clip(num[t, s] / max(den[t, s], 1e-12), 0.0, 1.0)), 3)
            for s in SEVERITIES
        ]
        for t in types
    }
    # |target - g d|^2 = |target|^2 - 2 g <d, target> + g^2 |d|^2, pooled like the gain;
    # g <= <d, target> / |d|^2 keeps it in 0..1 (and g = 0 removes nothing)
    removed = {
        t: [
            round((2 * g * num[t, s] - g * g * den[t, s]) / max(err[t, s], 1e-12), 3) if g else 0.0
            for g, s in zip(gain[t], SEVERITIES)
        ]
        for t in types
    }
    per_row = len(volumes) * repeats
    recall = {t: [round(named[t, s] / per_row, 3) for s in SEVERITIES] for t in types}
    return {
        "gain": gain,
        "recall": recall,
        "removed": removed,
        "cases": len(volumes) * len(types) * len(SEVERITIES) * repeats,
        "volumes": [Path(v).name for v in volumes],
        "slices": slices,
        "repeats": repeats,
        "seed": seed,
        "clean_change": round(float(np.mean(clean_change)), 5),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def validation_volumes(weights: str | os.PathLike[str], data_root: str | None) -> list[Path]:
    """The validation split of the weights' embedded training config (held out from training)."""
    from napari_dcpt.config import TrainingConfig
    from napari_dcpt.models import read_metadata
    from training.data import build_manifest, split_items

    extra = read_metadata(weights)["extra"]
    if "training_config" not in extra:
        raise DcptError("weights file has no embedded training config; pass --volumes", weights)
    cfg = TrainingConfig.model_validate(extra["training_config"])
    if data_root:
        cfg.data.root = data_root
    with tempfile.TemporaryDirectory() as tmp:
        manifest = build_manifest(cfg.data.root, Path(cfg.data.cache_dir or tmp))
    _, val = split_items(manifest["items"], cfg.data)
    if not val:
        raise DcptError(
            f"{cfg.data.root}: no {cfg.data.modality} validation series to calibrate on; "
            "pass --volumes"
        )
    return [Path(it["path"]) for it in val]


def main(
    weights: str,
    out: str,
    volumes: Sequence[str] | None,
    data_root: str | None,
    repeats: int,
    slices: int,
    threads: int | None,
) -> int:
    """``python -m training calibrate``: measure, print and embed the gain table."""
    from napari_dcpt.models.weights import rewrite_extra

    vols = [Path(v) for v in volumes] if volumes else validation_volumes(weights, data_root)
    table = calibrate(weights, vols, repeats=repeats, slices=slices, threads=threads)
    print(json.dumps(table, indent=1))
    print(rewrite_extra(weights, out, {"restore_gain": table}))
    return 0
