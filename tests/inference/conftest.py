"""A small random MR volume (the tiny model fixture lives in tests/conftest.py)."""

import numpy as np
import pytest


@pytest.fixture
def mr_volume(phantom):
    from napari_dcpt.volume import Volume

    rng = np.random.default_rng(3)
    arr = (rng.random((5, 40, 36)) * 500).astype(np.int16)
    return Volume(arr, phantom.affine, modality="MR", meta={"path": "mem.nii.gz"})
