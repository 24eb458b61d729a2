"""A tiny, randomly initialised model saved as a real weights file (no training)."""

import numpy as np
import pytest
import torch

VOCAB = ("clean", "rician_noise", "blur")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from napari_dcpt.config import ModelConfig
    from napari_dcpt.models import build_model, save_weights

    torch.manual_seed(0)
    cfg = ModelConfig(width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    net = build_model(cfg, len(VOCAB))
    path = tmp_path_factory.mktemp("w") / "tiny_mr.safetensors"
    save_weights(path, net, cfg, VOCAB, {"modality": "MR"})
    return path


@pytest.fixture
def mr_volume(phantom):
    from napari_dcpt.volume import Volume

    rng = np.random.default_rng(3)
    arr = (rng.random((5, 40, 36)) * 500).astype(np.int16)
    return Volume(arr, phantom.affine, modality="MR", meta={"path": "mem.nii.gz"})
