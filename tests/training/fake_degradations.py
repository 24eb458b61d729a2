"""A tiny stand-in for `napari_dcpt.degradations` (same API), for pipeline tests only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEVERITIES = ("mild", "moderate", "severe")
_TYPES = ("noise", "blur")


def vocabulary(modality: str) -> tuple[str, ...]:
    return ("clean", *_TYPES)


@dataclass
class DegradationRecord:
    types: tuple[str, ...]
    severities: tuple[str, ...]
    seed: int
    params: dict = field(default_factory=dict)

    def label(self, vocab):
        y = np.zeros(len(vocab), np.float32)
        for t in self.types or ("clean",):
            y[vocab.index(t)] = 1
        return y

    def severity_targets(self, vocab):
        y = np.zeros(len(vocab), np.int64)
        for t, s in zip(self.types, self.severities):
            y[vocab.index(t)] = SEVERITIES.index(s) + 1
        return y


def sample_record(
    modality, seed, *, types=None, severity=None, p_clean=0.15, p_mix=0.3, max_types=3
):
    rng = np.random.default_rng(seed)
    pool = tuple(types) if types else _TYPES
    if rng.random() < p_clean:
        return DegradationRecord((), (), seed)
    n = 2 if (rng.random() < p_mix and len(pool) > 1 and max_types > 1) else 1
    chosen = tuple(sorted(rng.choice(pool, n, replace=False).tolist()))
    sevs = tuple(severity or SEVERITIES[int(rng.integers(3))] for _ in chosen)
    return DegradationRecord(chosen, sevs, seed)


def apply_record(image, record, spacing):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(record.seed)
    out = np.asarray(image, np.float64).copy()
    scale = float(np.percentile(np.abs(out), 99)) or 1.0
    for t, s in zip(record.types, record.severities):
        k = SEVERITIES.index(s) + 1
        if t == "blur":
            sig = [0.0] * (out.ndim - 2) + [0.8 * k, 0.8 * k]
            out = gaussian_filter(out, sig)
        else:
            out = out + rng.normal(0, 0.05 * k * scale, out.shape)
    return out.astype(np.asarray(image).dtype)
