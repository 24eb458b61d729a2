"""The restore widget's work, run off the GUI thread: layer -> Volume, classify, restore.

Every function here takes plain layer data and attributes (``layer.as_layer_data_tuple``)
and returns plain results, so the Qt widget only wires buttons to them. Expected
failures come back as `Failed` values with a one-line message instead of exceptions:
napari relays a worker's exceptions as traceback notifications, and users should see
one line, once.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_dcpt.config import InferenceConfig
from napari_dcpt.errors import DcptError, WeightsError
from napari_dcpt.inference.report import DegradationReport
from napari_dcpt.plugin._layers import KEY, layer_to_volume
from napari_dcpt.volume import Volume

#: Exceptions a user can cause (bad file, bad layer, bad setting, too big a volume).
EXPECTED = (DcptError, ValueError, MemoryError)


@dataclass(frozen=True)
class Failed:
    """An expected failure, with the one line to show the user."""

    message: str


@dataclass(frozen=True)
class Classified:
    """A degradation report and how the modality was decided."""

    report: DegradationReport
    modality_note: str


@dataclass(frozen=True)
class Restored:
    """Restored voxels in the input layer's (display) order, ready for a new layer.

    ``data`` has the input layer's shape, or a single slice ``(1, y, x)`` for a
    preview of display slice ``preview_index``; ``difference`` is restored minus
    input (float32) when it was asked for.
    """

    data: np.ndarray
    difference: np.ndarray | None
    report: DegradationReport
    modality_note: str
    seconds: float
    preview_index: int | None = None
    difference_limit: float = 1.0
    strength: float = 1.0  # share of the network's change applied (RestoreResult.strength)


def check_layer(name: str, ndim: int, attributes: dict[str, Any], layer_type: str) -> None:
    """Refuse, in one line, a layer the network cannot take (cheap: no voxel access).

    Raises
    ------
    DcptError
        Not an image layer, an RGB image, a multiscale pyramid, or not 2-D/3-D.
    """
    if layer_type != "image":
        raise DcptError(f"a {layer_type} layer cannot be restored; pick an image layer", name)
    if attributes.get("rgb"):
        raise DcptError("RGB images cannot be restored; medical scans are single-channel", name)
    if attributes.get("multiscale"):
        raise DcptError("multiscale (pyramid) layers are not supported", name)
    if ndim not in (2, 3):
        raise DcptError(
            f"a {ndim}-D layer cannot be restored; split it into 3-D volumes first", name
        )


def resolve_modality(
    volume: Volume, attributes: dict[str, Any], choice: str, config: InferenceConfig, name: str
) -> tuple[str | None, str]:
    """The modality to restore with and a note saying where it came from.

    Order: the widget's choice, the layer's metadata (this plugin's reader), a guess
    from intensities (`napari_dcpt.io.guess_modality`) unless the DICOM header names
    another modality (a radiograph is not an MR), the weights file's own.

    Raises
    ------
    DcptError
        Nothing decides it and no weights file was chosen.
    """
    from napari_dcpt.io import check_in_scope, guess_modality

    if choice in ("MR", "CT"):
        return choice, f"modality {choice} (chosen in the widget)"
    info = (attributes.get("metadata") or {}).get(KEY) or {}
    meta = info.get("modality")
    if meta in ("MR", "CT"):
        source = "the reader's guess" if info.get("modality_guessed") else "the file"
        return meta, f"modality {meta} (from {source})"
    # before the weights file's modality: that would run an MR model on a radiograph
    check_in_scope(
        {"modality": info.get("header_modality")},
        name,
        "choose MR or CT in the Modality box to restore it anyway",
    )
    guess = guess_modality(volume.array)
    if guess in ("MR", "CT"):
        return guess, f"modality {guess} guessed from intensities; set it above if wrong"
    if config.weights:
        return None, "modality taken from the weights file"
    raise DcptError("modality unknown: choose MR or CT in the Modality box", name)


def _check_default_weights(modality: str | None, config: InferenceConfig) -> None:
    from napari_dcpt.inference import engine

    path = engine.DEFAULT_WEIGHTS.get(modality or "")
    if config.weights is None and path is not None and not path.exists():
        raise WeightsError(
            f"the default {modality} model is not installed; choose a weights file (Model)", path
        )


def _prepare(
    data: Any, attributes: dict[str, Any], name: str, choice: str, config: InferenceConfig
) -> tuple[Volume, str | None, str]:
    volume = layer_to_volume(data, attributes)
    modality, note = resolve_modality(volume, attributes, choice, config, name)
    _check_default_weights(modality, config)
    return volume, modality, note


def _is_oom(exc: BaseException) -> bool:
    # torch.OutOfMemoryError subclasses RuntimeError; older torch only says it in text
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _failure(exc: BaseException, name: str) -> Failed:
    if _is_oom(exc):
        return Failed(f"{name}: out of memory; lower the tile size or batch size (Advanced)")
    text = " ".join(str(exc).split()) or type(exc).__name__
    named = isinstance(exc, DcptError) and exc.path is not None
    return Failed(text if named else f"{name}: {text}")


def classify_job(
    data: Any, attributes: dict[str, Any], name: str, choice: str, config: InferenceConfig
) -> Classified | Failed:
    """Classify a layer's degradations; runs in a worker thread."""
    from napari_dcpt import inference

    try:
        volume, modality, note = _prepare(data, attributes, name, choice, config)
        report = inference.classify(
            volume,
            model=config.weights or None,
            modality=modality,
            device=config.device,
            threads=config.threads,
        )
        return Classified(report, note)
    except EXPECTED as exc:
        return _failure(exc, name)
    except RuntimeError as exc:
        if _is_oom(exc):
            return _failure(exc, name)
        raise


def _preview_target(
    volume: Volume, data: Any, attributes: dict[str, Any], index: int
) -> tuple[Volume, int, bool]:
    """The volume and its slice that show display slice ``index``; True if display-ordered.

    The network restores slices of the volume's first (acquisition) axis. When the
    display's first axis is that axis (possibly flipped) the preview is that slice;
    otherwise the displayed plane is restored on its own, in display order.
    """
    if volume.ndim == 2:
        return volume, 0, False
    info = (attributes.get("metadata") or {}).get(KEY) or {}
    perm, flip = info.get("display_perm"), info.get("display_flip")
    if perm is None:
        return volume, index, False
    if perm[0] == 0:
        return volume, (volume.shape[0] - 1 - index) if flip[0] else index, False
    plain = {**attributes, "metadata": {}}  # no stored affine: display order, axis-aligned
    shown = layer_to_volume(data, plain)
    return Volume(shown.array, shown.affine, volume.modality, volume.unit, shown.meta), index, True


def _display(volume: Volume, attributes: dict[str, Any]) -> np.ndarray:
    """A restored volume in the input layer's display order (the stored reorientation)."""
    from napari_dcpt.io import geometry

    info = (attributes.get("metadata") or {}).get(KEY) or {}
    if volume.ndim == 3 and info.get("display_perm") is not None:
        return geometry.apply_display(volume.array, info["display_perm"], info["display_flip"])
    return volume.array


def restore_job(
    data: Any,
    attributes: dict[str, Any],
    name: str,
    choice: str,
    config: InferenceConfig,
    *,
    preview_index: int | None = None,
    difference: bool = False,
) -> Generator[Any, None, Restored | Failed]:
    """Restore a layer (or one display slice of it); yields `Progress`, runs in a worker.

    Closing or abandoning the generator between yields cancels the restoration
    (`napari_dcpt.inference.restore` does no work between its yields).
    """
    from napari_dcpt import inference

    start = time.perf_counter()
    try:
        volume, modality, note = _prepare(data, attributes, name, choice, config)
        ordered = False
        slices = None
        if preview_index is not None:
            volume, z, ordered = _preview_target(volume, data, attributes, preview_index)
            slices = [z]
        result = yield from inference.restore(
            volume,
            modality=modality,
            slices=slices,
            # a preview must answer in about a second: classify from one slice only
            classify_slices=1 if preview_index is not None else 12,
            **config.restore_kwargs(),
        )
        out = result.volume.array if ordered else _display(result.volume, attributes)
        before = np.asarray(data)
        if out.shape != before.shape:  # the geometry round trip must be exact
            raise DcptError(f"restored shape {out.shape} differs from the layer's {before.shape}")
        if preview_index is not None and out.ndim == 3:
            out = out[preview_index : preview_index + 1]
            before = before[preview_index : preview_index + 1]
        out = np.ascontiguousarray(out)
        diff, limit = None, 1.0
        if difference:
            diff = out.astype(np.float32) - before.astype(np.float32)
            # symmetric display window that ignores a few extreme voxels
            limit = float(np.percentile(np.abs(diff), 99.5)) or 1.0
        seconds = time.perf_counter() - start
        return Restored(
            out, diff, result.report, note, seconds, preview_index, limit, result.strength
        )
    except EXPECTED as exc:
        return _failure(exc, name)
    except RuntimeError as exc:
        if _is_oom(exc):
            return _failure(exc, name)
        raise
