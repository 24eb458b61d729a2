"""Shared fixtures: seeded RNG, the real data cache, an asymmetric oblique phantom."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# torch must be imported before Qt (napari tests): both ship OpenMP/threads runtimes,
# and loading Qt first has crashed torch here.
import torch

DATA = Path(os.environ.get("NAPARI_DCPT_DATA", Path.home() / ".cache" / "napari-dcpt" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def data_dir() -> Path:
    """The real data cache; tests using it carry @pytest.mark.realdata."""
    if not (DATA / ".complete").exists():
        pytest.skip(f"real data cache missing ({DATA}); run ../shared/data/fetch_data.sh")
    return DATA


def oblique_affine() -> np.ndarray:
    """Array-order LPS affine: anisotropic spacing, non-zero origin, oblique axes."""
    from scipy.spatial.transform import Rotation

    from napari_dcpt.io.geometry import affine_from_parts

    rot = Rotation.from_euler("xyz", [20, -15, 10], degrees=True).as_matrix()
    # columns for array axes (z, y, x): z along the rotated S axis, y along P, x along L
    direction = rot[:, [2, 1, 0]]
    return affine_from_parts((-120.5, 33.25, 47.0), (2.5, 0.7, 0.9), direction)


@pytest.fixture
def phantom():
    """An asymmetric phantom Volume (7 x 11 x 13 voxels, int16, oblique)."""
    from napari_dcpt.volume import Volume

    arr = np.arange(7 * 11 * 13, dtype=np.int16).reshape(7, 11, 13) - 300
    arr[0, 0, 0] = 1000  # a marker that reveals any flip
    return Volume(array=arr, affine=oblique_affine(), modality="MR")


TINY_VOCAB = ("clean", "rician_noise", "blur")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A tiny, randomly initialised MR model saved as a real weights file (no training)."""
    from napari_dcpt.config import ModelConfig
    from napari_dcpt.models import build_model, save_weights

    torch.manual_seed(0)
    cfg = ModelConfig(width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    net = build_model(cfg, len(TINY_VOCAB))
    path = tmp_path_factory.mktemp("w") / "tiny_mr.safetensors"
    save_weights(path, net, cfg, TINY_VOCAB, {"modality": "MR"})
    return path
