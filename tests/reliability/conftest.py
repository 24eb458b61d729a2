"""Fixtures for the reliability tests: a synthetic DICOM series full of patient data,
small NIfTI inputs, and a runner for the `napari-dcpt` command in-process."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # reliability_helpers beside this file
from reliability_helpers import plant_phi, write_series  # noqa: E402


@pytest.fixture
def phi_series(tmp_path: Path) -> Path:
    """A 6-slice MR series (40 x 36 pixels) whose headers carry `PHI`, in its own folder."""
    from napari_dcpt.io.geometry import affine_from_parts

    rng = np.random.default_rng(7)
    arr = rng.integers(0, 800, size=(6, 40, 36)).astype(np.int16)
    aff = affine_from_parts((-10.0, 5.0, 2.0), (3.0, 0.8, 0.8), np.eye(3))
    folder = tmp_path / "in" / "study"
    plant_phi(write_series(folder, arr, aff, modality="MR", description="T1 axial"))
    return folder


@pytest.fixture
def nifti_inputs(tmp_path: Path) -> list[Path]:
    """Four small MR NIfTI files (5 x 24 x 20, int16) under ``tmp_path/nii_in``."""
    from napari_dcpt import io
    from napari_dcpt.io.geometry import affine_from_parts
    from napari_dcpt.volume import Volume

    rng = np.random.default_rng(11)
    out = []
    for i in range(4):
        arr = rng.integers(0, 500, size=(5, 24, 20)).astype(np.int16)
        vol = Volume(arr, affine_from_parts((0, 0, 0), (2, 1, 1), np.eye(3)), modality="MR")
        out.append(io.write(vol, tmp_path / "nii_in" / f"case{i}.nii.gz"))
    return out


@pytest.fixture
def cli(capsys):
    """Run ``napari-dcpt ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from napari_dcpt.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        code = main(["--quiet", *[str(a) for a in args]])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
