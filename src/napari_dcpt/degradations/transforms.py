"""MONAI array and dictionary transforms around `apply_record` / `sample_record`.

Images are channel-first (``spatial_dims`` = 2: ``(C, y, x)``; 3: ``(C, z, y, x)``,
the project's axis order); every channel gets the same degradation. Random
transforms draw their seed from MONAI's ``self.R``, so ``set_determinism`` and
``monai.data.DataLoader``'s per-worker seeding make them reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform, Randomizable, Transform

from napari_dcpt.degradations.registry import (
    DegradationRecord,
    apply_record,
    sample_record,
    vocabulary,
)


def _check_dims(spatial_dims: int) -> int:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    return spatial_dims


def _apply_channels(img: Any, record: DegradationRecord, spacing: Sequence[float], sd: int) -> Any:
    if img.ndim == sd:
        return apply_record(img, record, spacing)
    if img.ndim != sd + 1:
        raise ValueError(
            f"img must have {sd} spatial dims (+ channel), got shape {tuple(img.shape)}"
        )
    out = [apply_record(img[c], record, spacing) for c in range(img.shape[0])]
    try:
        import torch

        if isinstance(img, torch.Tensor):
            res = img.detach().clone()
            for c, o in enumerate(out):
                res[c] = o
            return res
    except ImportError:  # pragma: no cover
        pass
    return np.stack(out)


class Degrade(Transform):
    """Apply a fixed `DegradationRecord` (array transform).

    Parameters
    ----------
    record
        The record (or its `to_dict`).
    spacing
        mm per spatial axis; default 1 mm.
    spatial_dims
        2 or 3; input is channel-first or has no channel axis.
    """

    def __init__(
        self,
        record: DegradationRecord | dict,
        spacing: Sequence[float] | None = None,
        spatial_dims: int = 2,
    ) -> None:
        self.record = (
            record if isinstance(record, DegradationRecord) else DegradationRecord.from_dict(record)
        )
        self.spatial_dims = _check_dims(spatial_dims)
        self.spacing = tuple(spacing) if spacing is not None else (1.0,) * spatial_dims

    def __call__(self, img: Any, spacing: Sequence[float] | None = None) -> Any:
        return _apply_channels(img, self.record, spacing or self.spacing, self.spatial_dims)


class RandDegrade(Randomizable, Transform):
    """Draw a record (`sample_record`) and apply it; the last one is ``self.last_record``.

    Parameters
    ----------
    modality
        ``"MR"`` or ``"CT"``.
    spacing, spatial_dims
        As in `Degrade`.
    p_clean, p_mix, max_types, types, severity
        As in `sample_record`.
    """

    def __init__(
        self,
        modality: str,
        spacing: Sequence[float] | None = None,
        spatial_dims: int = 2,
        p_clean: float = 0.15,
        p_mix: float = 0.3,
        max_types: int = 3,
        types: Sequence[str] | None = None,
        severity: str | Sequence[str] | None = None,
    ) -> None:
        self.modality = modality
        self.spatial_dims = _check_dims(spatial_dims)
        self.spacing = tuple(spacing) if spacing is not None else (1.0,) * spatial_dims
        self.kw = dict(
            p_clean=p_clean, p_mix=p_mix, max_types=max_types, types=types, severity=severity
        )
        sample_record(modality, 0, **self.kw)  # validate parameters now
        self.last_record: DegradationRecord | None = None
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def sample(self) -> DegradationRecord:
        """Draw a fresh record."""
        self.randomize()
        self.last_record = sample_record(self.modality, self._seed, **self.kw)
        return self.last_record

    def __call__(self, img: Any, spacing: Sequence[float] | None = None) -> Any:
        rec = self.sample()
        return _apply_channels(img, rec, spacing or self.spacing, self.spatial_dims)


class RandDegraded(Randomizable, MapTransform):
    """Dictionary form: degrade ``keys``, keep the clean copy, write label and targets.

    Writes ``clean_key`` (copy of the first key's input), ``label_key`` (float32
    multi-hot over `vocabulary`), ``severity_key`` (int64 per vocabulary entry) and
    ``record_key`` (the record as a JSON string, so it collates). Spacing (mm per
    spatial axis) comes from ``data[spacing_key]`` if given, else ``spacing``.
    """

    def __init__(
        self,
        keys: str | Sequence[str] = "image",
        modality: str = "MR",
        clean_key: str = "clean",
        label_key: str = "label",
        record_key: str = "record",
        severity_key: str = "severity",
        spacing_key: str | None = None,
        spacing: Sequence[float] | None = None,
        spatial_dims: int = 2,
        p_clean: float = 0.15,
        p_mix: float = 0.3,
        max_types: int = 3,
        types: Sequence[str] | None = None,
        severity: str | Sequence[str] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.rand = RandDegrade(
            modality, spacing, spatial_dims, p_clean, p_mix, max_types, types, severity
        )
        self.vocab = vocabulary(modality)
        self.clean_key, self.label_key = clean_key, label_key
        self.record_key, self.severity_key, self.spacing_key = record_key, severity_key, spacing_key

    def set_random_state(self, seed: int | None = None, state: Any = None) -> RandDegraded:
        super().set_random_state(seed, state)
        self.rand.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        self.rand.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        rec = self.rand.sample()
        spacing = d[self.spacing_key] if self.spacing_key else self.rand.spacing
        spacing = tuple(float(s) for s in np.asarray(spacing).reshape(-1))
        first = True
        for key in self.key_iterator(d):
            if first:
                img = d[key]
                d[self.clean_key] = img.clone() if hasattr(img, "clone") else np.copy(img)
                first = False
            d[key] = _apply_channels(d[key], rec, spacing, self.rand.spatial_dims)
        d[self.label_key] = rec.label(self.vocab)
        d[self.severity_key] = rec.severity_targets(self.vocab)
        d[self.record_key] = rec.to_json()
        return d
