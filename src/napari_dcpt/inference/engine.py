"""`restore()` and `classify()`: the one inference path every front end drives.

A volume is normalised (`normalise`), cut into slices (2-D / 2.5-D models) or blocks
(3-D models), each slice tiled with Gaussian-weighted blending by MONAI's
`sliding_window_inference` (so memory stays bounded by the tile batch), restored,
mapped back to scanner units and cast to the input dtype. The same network's
classifier reads a sample of slices to build the `DegradationReport`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_dcpt.config import DEFAULT_BATCH, DEFAULT_TILE
from napari_dcpt.errors import DcptError, WeightsError
from napari_dcpt.inference.normalise import Normaliser, normaliser_for
from napari_dcpt.inference.report import SEVERITY_NAMES, DegradationReport, Finding
from napari_dcpt.volume import Volume

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = {"MR": WEIGHTS_DIR / "mr.safetensors", "CT": WEIGHTS_DIR / "ct.safetensors"}


@dataclass(frozen=True)
class Progress:
    """A progress event: ``done`` of ``total`` units of ``stage`` (classify/restore)."""

    stage: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """Completed share, 0..1."""
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class RestoreResult:
    """A restored volume (input geometry, units and dtype) and what was wrong.

    ``strength`` is the share of the network's change that was applied (1 = all of
    it; see ``scale_by_report`` in `restore`).
    """

    volume: Volume
    report: DegradationReport
    strength: float = 1.0


@dataclass(frozen=True)
class LoadedModel:
    """A network with its config, vocabulary and the file it came from.

    ``gains`` is the file's calibration table (``training.calibrate``): per degradation
    type, the share of the network's change that helps at each severity (mild,
    moderate, severe); empty for an uncalibrated file (`report_strength` then uses
    ``1 - p(clean)`` alone). ``recall``, from the same calibration, is the share of
    those degraded cases in which the report named the type, and ``removed`` the share
    of their squared error that the calibrated change takes away; each empty when not
    measured.
    """

    net: Any
    config: Any
    vocabulary: tuple[str, ...]
    modality: str
    path: Path
    gains: dict[str, tuple[float, ...]] = field(default_factory=dict)
    recall: dict[str, tuple[float, ...]] = field(default_factory=dict)
    removed: dict[str, tuple[float, ...]] = field(default_factory=dict)


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DcptError("device 'cuda' requested but no CUDA GPU is available")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise DcptError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return device


def load_model(
    weights: str | os.PathLike[str] | None = None, modality: str | None = None, device: str = "cpu"
) -> LoadedModel:
    """Load a weights file, or the shipped default for ``modality``.

    Raises
    ------
    WeightsError
        No default model for the modality, or a missing/unsafe/mismatched file.
    """
    if weights is None:
        if modality not in DEFAULT_WEIGHTS:
            raise DcptError(
                f"modality {modality!r} has no default model; choose MR or CT (--modality)"
            )
        path = DEFAULT_WEIGHTS[modality]
        if not path.exists():
            raise WeightsError(f"the default {modality} model is not installed", path)
    else:
        path = Path(weights).expanduser()
    return _load_cached(str(path.absolute()), device)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, device: str) -> LoadedModel:
    from napari_dcpt.models import load_weights, read_metadata

    net, config, vocab = load_weights(path, device=device)
    extra = read_metadata(path).get("extra") or {}
    modality = str(extra.get("modality", "unknown")).upper()
    table = extra.get("restore_gain")
    gains = _parse_table(table, "gain", vocab, Path(path))
    # calibrations before session 10 did not measure recall
    recall = _parse_table(table, "recall", vocab, Path(path), optional=True)
    # and before session 18 not the share of the error removed
    removed = _parse_table(table, "removed", vocab, Path(path), optional=True)
    return LoadedModel(net, config, tuple(vocab), modality, Path(path), gains, recall, removed)


def _parse_table(
    table: Any, key: str, vocab: Sequence[str], path: Path, optional: bool = False
) -> dict[str, tuple[float, ...]]:
    """Validate one per-type, per-severity table of the embedded calibration (``None``:
    the file is uncalibrated; an ``optional`` key may be absent)."""
    if table is None or (optional and isinstance(table, dict) and key not in table):
        return {}
    try:
        rows = {str(t): tuple(float(v) for v in row) for t, row in dict(table[key]).items()}
    except (KeyError, TypeError, ValueError):
        raise WeightsError("embedded restore_gain table is malformed", path) from None
    for t, row in rows.items():
        if t not in vocab or len(row) != len(SEVERITY_NAMES) - 1:
            raise WeightsError(f"restore_gain: bad {key} entry for {t!r}", path)
        if not all(0.0 <= v <= 1.0 for v in row):
            raise WeightsError(f"restore_gain: {key} of {t!r} must lie in 0..1", path)
    return rows


def _by_severity(
    table: dict[str, tuple[float, ...]], name: str, severity_probs: np.ndarray | None
) -> float | None:
    """Type ``name``'s calibrated value (gain, recall) averaged over the severity head's
    belief.

    None for a file without the table; 1 for a type the table lacks (trusted, as before).
    """
    if not table:
        return None
    n_sev = len(SEVERITY_NAMES) - 1
    g = np.asarray(table.get(name, (1.0,) * n_sev), dtype=np.float64)
    sev = np.asarray(severity_probs[1:] if severity_probs is not None else [], np.float64)
    ps = sev / sev.sum() if sev.size == n_sev and sev.sum() > 1e-6 else np.full(n_sev, 1 / n_sev)
    return float(ps @ g)


def report_strength(report: DegradationReport) -> float:
    """The share of the network's change to apply, given the report.

    Without calibration (an uncalibrated weights file: no finding has a ``gain``) it
    is ``1 - p(clean)``: if the scan is clean the best answer is the input, otherwise
    the network's output, and this is the least-squares blend under those two
    hypotheses. With calibration it is

        (1 - p(clean)) x (1 - prod_k (1 - p_k x gain_k)),

    the chance that at least one type the network can fix is present. The types are
    multi-label, and where a fixable one (noise, say) is present its large correction
    dominates the network's change, so a detected but unfixable type (a bias field)
    must not dilute it; alone, it gets a strength near 0.
    """
    if not np.isfinite(report.clean_probability):
        return 1.0
    if any(f.gain is None for f in report.findings):
        return float(np.clip(1.0 - report.clean_probability, 0.0, 1.0))
    unfixed = float(np.prod([1.0 - f.probability * float(f.gain) for f in report.findings]))
    return float(np.clip((1.0 - report.clean_probability) * (1.0 - unfixed), 0.0, 1.0))


def _check_input(volume: Volume) -> None:
    name = volume.meta.get("path") or volume.meta.get("source_path")
    if volume.array.ndim not in (2, 3):
        raise DcptError(f"cannot restore a {volume.array.ndim}-D array", name)
    if np.iscomplexobj(volume.array) or not np.issubdtype(volume.array.dtype, np.number):
        raise DcptError(f"unsupported voxel type {volume.array.dtype}", name)
    if np.issubdtype(volume.array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(volume.array)))
        if bad:
            raise DcptError(f"{bad} voxels are NaN or infinite; fix or mask them first", name)
    if min(volume.shape[-2:]) < 8:
        raise DcptError(f"slices of {volume.shape[-2:]} pixels are too small to restore", name)
    lo, hi = np.min(volume.array), np.max(volume.array)
    if lo == hi:  # a blank series: the classifier's report on it would be noise
        raise DcptError(f"every voxel is {lo:g}: a constant image has nothing to restore", name)


def _as_stack(volume: Volume) -> np.ndarray:
    """(z, y, x) view of a 2-D or 3-D volume."""
    return volume.array[None] if volume.ndim == 2 else volume.array


def _slab(stack: np.ndarray, start: int, stop: int, k: int) -> np.ndarray:
    """Slices ``start:stop`` with ``k`` neighbours each as channels (edge-replicated)."""
    half = k // 2
    idx = np.clip(np.arange(start - half, stop + half), 0, stack.shape[0] - 1)
    block = stack[idx]
    if k == 1:
        return block[:, None]
    return np.stack([block[i : i + k] for i in range(stop - start)])


def _normaliser(volume: Volume, modality: str) -> Normaliser:
    arr = volume.array
    step = max(1, arr.size // 2_000_000)  # a percentile on 2 M voxels is plenty
    return normaliser_for(modality, arr.ravel()[::step])


def _modality(volume: Volume, model: LoadedModel | None, override: str | None) -> str:
    """MR or CT: the override, the volume's own, else a weights file's for a volume
    whose modality nothing states (a NIfTI); a header naming another modality is
    refused even with weights, so a batch never runs an MR model on a radiograph."""
    from napari_dcpt.io import check_in_scope

    mod = (override or volume.modality or "unknown").upper()
    if mod in ("MR", "CT"):
        return mod
    how = "(--modality mr|ct, or the widget's modality box)"
    check_in_scope(volume.meta, volume.meta.get("path"), f"force one {how}")
    if model is not None and model.modality in ("MR", "CT"):
        return model.modality
    raise DcptError(f"modality unknown: tell it {how}", volume.meta.get("path"))


def _pick_model(
    volume: Volume,
    model: LoadedModel | str | os.PathLike[str] | None,
    modality: str | None,
    device: str,
) -> tuple[LoadedModel, str]:
    if isinstance(model, LoadedModel):
        return model, _modality(volume, model, modality)
    mod = _modality(volume, None, modality) if model is None else None
    loaded = load_model(model, mod, device)
    mod = mod or _modality(volume, loaded, modality)
    if loaded.modality in ("MR", "CT") and loaded.modality != mod:
        raise WeightsError(f"this model was trained for {loaded.modality}, not {mod}", loaded.path)
    return loaded, mod


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))


CLASSIFY_CROP = 256  # px; in-plane size classified per sampled slice


def classify(
    volume: Volume,
    *,
    model: LoadedModel | str | os.PathLike[str] | None = None,
    modality: str | None = None,
    device: str = "auto",
    max_slices: int = 12,
    threads: int | None = None,
) -> DegradationReport:
    """What is wrong with a scan: the classifier's report from a sample of slices.

    Parameters
    ----------
    volume
        The scan, in scanner units.
    model
        A `LoadedModel`, a weights file, or None for the default of the modality.
    max_slices
        Slices sampled evenly through the central 80 % of the volume (the ends are
        often empty); their probabilities are averaged. Each is classified on its
        central `CLASSIFY_CROP` px square.
    """
    return run(
        classify_steps(
            volume,
            model=model,
            modality=modality,
            device=device,
            max_slices=max_slices,
            threads=threads,
        )
    )


def classify_steps(
    volume: Volume,
    *,
    model: Any,
    modality: str | None,
    device: str,
    max_slices: int,
    threads: int | None,
    loaded: tuple[LoadedModel, str] | None = None,
    norm: Normaliser | None = None,
) -> Generator[Progress, None, DegradationReport]:
    """`classify` as a generator yielding `Progress` per sampled slice (for progress bars).

    ``loaded``/``norm`` let `restore` reuse its model and intensity map; it has checked
    the volume already, so the full-array checks are not run twice.
    """
    import torch

    if max_slices < 1:
        raise ValueError(f"max_slices must be >= 1, got {max_slices}")
    if loaded is None:
        _check_input(volume)
    _set_threads(threads)
    dev = resolve_device(device)
    lm, mod = loaded or _pick_model(volume, model, modality, dev)
    norm = norm or _normaliser(volume, mod)
    stack = _as_stack(volume)
    k = lm.config.in_slices if lm.config.spatial_dims == 2 else 1
    n = stack.shape[0]
    lo, hi = int(0.1 * n), max(int(np.ceil(0.9 * n)), int(0.1 * n) + 1)
    picks = np.unique(np.linspace(lo, hi - 1, min(max_slices, hi - lo)).round().astype(int))
    probs, sevs = [], []
    net = lm.net.to(dev).eval()
    for i, z in enumerate(picks):
        if lm.config.spatial_dims == 3:
            half = 8
            block = norm.forward(stack[max(0, z - half) : z + half])[None, None]
            x = torch.from_numpy(np.ascontiguousarray(block)).to(dev)
        else:
            # The central CLASSIFY_CROP px square: the head was trained on small
            # patches centred on anatomy, and a 512 px CT slice costs 4x as much.
            slab = _slab(stack, int(z), int(z) + 1, k)
            h, w = slab.shape[-2:]
            y0, x0 = max(0, (h - CLASSIFY_CROP) // 2), max(0, (w - CLASSIFY_CROP) // 2)
            slab = slab[..., y0 : y0 + CLASSIFY_CROP, x0 : x0 + CLASSIFY_CROP]
            x = torch.from_numpy(norm.forward(np.ascontiguousarray(slab))).to(dev)
        with torch.inference_mode():
            _, logits, sev = net(x, return_aux=True)
        probs.append(torch.sigmoid(logits).float().cpu().numpy()[0])
        if sev is not None:
            sevs.append(torch.softmax(sev, dim=-1).float().cpu().numpy()[0])
        yield Progress("classify", i + 1, len(picks))
    p = np.mean(probs, axis=0)
    s = np.mean(sevs, axis=0) if sevs else None
    findings = []
    for j, name in enumerate(lm.vocabulary):
        if name == "clean":
            continue
        sev_p = tuple(float(v) for v in s[j]) if s is not None else ()
        # the most likely severity among the present ones (index 0 is "absent")
        sev_name = SEVERITY_NAMES[1 + int(np.argmax(s[j][1:]))] if s is not None else ""
        sj = s[j] if s is not None else None
        gain, recall = _by_severity(lm.gains, name, sj), _by_severity(lm.recall, name, sj)
        removed = _by_severity(lm.removed, name, sj)
        findings.append(Finding(name, float(p[j]), sev_name, sev_p, gain, recall, removed))
    findings.sort(key=lambda f: -f.probability)
    clean_p = float(p[lm.vocabulary.index("clean")]) if "clean" in lm.vocabulary else float("nan")
    return DegradationReport(mod, tuple(findings), clean_p, n_samples=len(picks))


def restore(
    volume: Volume,
    *,
    model: LoadedModel | str | os.PathLike[str] | None = None,
    modality: str | None = None,
    device: str = "auto",
    tile: int = DEFAULT_TILE,
    overlap: float = 0.125,
    batch_size: int = DEFAULT_BATCH,
    threads: int | None = None,
    classify_slices: int = 12,
    slices: Sequence[int] | None = None,
    scale_by_report: bool = True,
) -> Generator[Progress, None, RestoreResult]:
    """Restore a volume; a generator that yields `Progress` and returns a `RestoreResult`.

    Drive it with ``for p in gen: ...`` and take ``StopIteration.value``, or call
    `run` for the result alone. Closing the generator (``gen.close()``) cancels.

    Parameters
    ----------
    volume
        2-D image or 3-D volume in scanner units (HU for CT).
    model
        A `LoadedModel`, a weights file, or None for the shipped default of the
        volume's modality.
    modality
        ``"MR"``/``"CT"`` to override the header (needed when it is unknown).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    tile
        In-plane tile size in pixels (slices larger than this are tiled with
        Gaussian blending); memory grows with ``tile**2 * batch_size``.
    overlap
        Fraction of a tile shared with its neighbour (0..0.9).
    batch_size
        Slices (or tiles) run through the network at once.
    threads
        torch CPU threads; None keeps torch's setting.
    slices
        Restore only these slice indices (a quick preview); others are copied.
    scale_by_report
        Apply the share of the network's change that the report says will help
        (`report_strength`): ``1 - p(clean)``, times the calibrated share for the
        types and severities the report sees when the weights file carries a table
        (``training.calibrate``). False applies all of it. This keeps the network
        from reworking scans it believes are clean, and from "correcting" types it
        detects but did not learn to undo on unseen volumes.

    Returns
    -------
    RestoreResult
        The restored `Volume` (same shape, dtype, geometry, modality and unit) and
        the `DegradationReport` of the input.
    """
    import torch
    from monai.inferers import sliding_window_inference

    if not 8 <= tile <= 4096:
        raise ValueError(f"tile must be between 8 and 4096 pixels, got {tile}")
    if not 0 <= overlap < 0.9:
        raise ValueError(f"overlap must be in [0, 0.9), got {overlap}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_input(volume)
    _set_threads(threads)
    dev = resolve_device(device)
    lm, mod = _pick_model(volume, model, modality, dev)
    norm = _normaliser(volume, mod)
    report = yield from classify_steps(
        volume,
        model=None,
        modality=None,
        device=dev,
        max_slices=classify_slices,
        threads=None,
        loaded=(lm, mod),
        norm=norm,
    )
    stack = _as_stack(volume)
    out = np.array(stack, dtype=np.float32, copy=True)
    net = lm.net.to(dev).eval()
    # Channels-last lets oneDNN run the depthwise convolutions and the channel
    # LayerNorm without layout copies (about 25 % faster on this CPU, outputs equal
    # to float rounding); see benchmarks/results/speed.md.
    layout = torch.channels_last if lm.config.spatial_dims == 2 else torch.contiguous_format
    net = net.to(memory_format=layout)
    todo = np.arange(stack.shape[0]) if slices is None else np.unique(np.asarray(slices, int))
    if todo.size and (todo.min() < 0 or todo.max() >= stack.shape[0]):
        raise ValueError(f"slices must be within 0..{stack.shape[0] - 1}")

    def run_net(x: torch.Tensor) -> torch.Tensor:
        return net(x.contiguous(memory_format=layout))

    def tiled(x: torch.Tensor, roi: tuple[int, ...]) -> torch.Tensor:
        # MONAI's splitter and merger: Gaussian-blended tiles, batched, merged on the CPU
        return sliding_window_inference(
            x,
            roi,
            batch_size,
            run_net,
            overlap=overlap,
            mode="gaussian",
            sw_device=dev,
            device="cpu",
        )

    if lm.config.spatial_dims == 3:
        x = torch.from_numpy(norm.forward(stack)[None, None]).to(dev)
        roi = (min(64, stack.shape[0]), tile, tile)
        with torch.inference_mode():
            y = tiled(x, roi)
        out = norm.inverse(y[0, 0].float().numpy())
        yield Progress("restore", 1, 1)
    else:
        k = lm.config.in_slices
        chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        for ci, chunk in enumerate(chunks):
            # chunk holds consecutive indices except for a sparse `slices` preview
            for z0 in _runs(chunk):
                x = torch.from_numpy(norm.forward(_slab(stack, z0[0], z0[-1] + 1, k))).to(dev)
                h, w = x.shape[-2:]
                with torch.inference_mode():
                    if h <= tile and w <= tile:
                        y = run_net(x)
                    else:
                        y = tiled(x, (min(tile, h), min(tile, w)))
                out[z0[0] : z0[-1] + 1] = norm.inverse(y[:, 0].float().cpu().numpy())
            yield Progress("restore", ci + 1, len(chunks))
    from napari_dcpt.inference.normalise import cast_like

    strength = 1.0
    if scale_by_report and np.isfinite(report.clean_probability):
        strength = report_strength(report)
        # both intensity maps are linear, so blending in scanner units is exact
        out = stack + np.float32(strength) * (out - stack)
    restored = cast_like(out.reshape(volume.shape), volume.array.dtype)
    meta = dict(volume.meta)
    meta["restored_with"] = lm.path.name
    meta["restore_strength"] = round(strength, 4)
    return RestoreResult(volume.with_array(restored, meta=meta), report, strength)


def _runs(indices: np.ndarray) -> list[np.ndarray]:
    """Split sorted indices into runs of consecutive values."""
    if len(indices) == 0:
        return []
    cuts = np.where(np.diff(indices) != 1)[0] + 1
    return np.split(indices, cuts)


def run(gen: Generator[Progress, None, Any]) -> Any:
    """Drive a `restore` (or classify) generator to the end and return its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
