"""Intensity mapping between scanner units and the network's range (and back).

CT keeps Hounsfield units end to end through a fixed linear window (air -> 0,
water -> 0.5, dense bone ~ 1); MR has arbitrary units, so a robust per-volume scale
(the 99.5th percentile -> 1) maps it in. Zero stays zero for MR because magnitude
images (and their Rician background) are non-negative. Both maps are linear and
exactly invertible; the output is cast back to the input dtype with rounding and
clipping to that dtype's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CT_WINDOW_HU = (-1000.0, 1000.0)  # HU mapped to 0 and 1
MR_PERCENTILE = 99.5


@dataclass(frozen=True)
class Normaliser:
    """``x_net = (x - offset) / scale``; ``x = x_net * scale + offset``."""

    offset: float
    scale: float

    def forward(self, array: np.ndarray) -> np.ndarray:
        """Scanner units -> network units (float32)."""
        return ((np.asarray(array, dtype=np.float32) - self.offset) / self.scale).astype(
            np.float32, copy=False
        )

    def inverse(self, array: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
        """Network units -> scanner units, cast to ``dtype`` (rounded, clipped) if given."""
        out = np.asarray(array, dtype=np.float32) * self.scale + self.offset
        return cast_like(out, dtype) if dtype is not None else out


def cast_like(array: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Cast float values to ``dtype``: round and clip for integers, plain cast for floats."""
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(array), info.min, info.max).astype(dt)
    return np.asarray(array).astype(dt)


def normaliser_for(modality: str, array: np.ndarray) -> Normaliser:
    """The intensity map for a volume of this modality.

    Parameters
    ----------
    modality
        ``"CT"`` (values in HU) or ``"MR"``; anything else is treated as MR
        (relative units), the safe choice for an unknown scale.
    array
        The volume (or slice) the map is computed on; only MR uses its values.
    """
    if modality == "CT":
        lo, hi = CT_WINDOW_HU
        return Normaliser(offset=lo, scale=hi - lo)
    finite = np.asarray(array, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    top = float(np.percentile(finite, MR_PERCENTILE)) if finite.size else 1.0
    if not np.isfinite(top) or top <= 0:
        top = float(np.max(np.abs(finite))) if finite.size and np.max(np.abs(finite)) > 0 else 1.0
    return Normaliser(offset=0.0, scale=top)
