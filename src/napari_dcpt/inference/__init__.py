"""Inference: intensity normalisation, tiled `restore()` and `classify()`.

Importing this package does not import torch; the engine loads it on first call.
"""

from napari_dcpt.inference.engine import (
    DEFAULT_WEIGHTS,
    LoadedModel,
    Progress,
    RestoreResult,
    classify,
    classify_steps,
    load_model,
    resolve_device,
    restore,
    run,
)
from napari_dcpt.inference.report import DegradationReport, Finding

__all__ = [
    "DEFAULT_WEIGHTS",
    "DegradationReport",
    "Finding",
    "LoadedModel",
    "Progress",
    "RestoreResult",
    "classify",
    "classify_steps",
    "load_model",
    "resolve_device",
    "restore",
    "run",
]
