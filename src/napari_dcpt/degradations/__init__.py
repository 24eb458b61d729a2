"""MR and CT degradation simulators, their registry, records and MONAI transforms.

Importing this package loads numpy/scipy only; torch is imported by the CT operators
when they run, and MONAI when a transform class (`Degrade`, `RandDegrade`,
`RandDegraded`) is first accessed.
"""

from __future__ import annotations

from typing import Any

from napari_dcpt.degradations.registry import (
    REGISTRY,
    SEVERITIES,
    DegradationRecord,
    DegradationSpec,
    RandomDegradation,
    apply_record,
    registry_table,
    sample_record,
    vocabulary,
)

__all__ = [
    "REGISTRY",
    "SEVERITIES",
    "Degrade",
    "DegradationRecord",
    "DegradationSpec",
    "RandDegrade",
    "RandDegraded",
    "RandomDegradation",
    "apply_record",
    "registry_table",
    "sample_record",
    "vocabulary",
]

_LAZY = {"Degrade", "RandDegrade", "RandDegraded"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # MONAI imports torch: load it only when a transform is used
        from napari_dcpt.degradations import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
