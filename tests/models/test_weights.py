"""Weights files: round trip is bit-identical; bad, truncated or tampered files are refused."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from napari_dcpt.config import ModelConfig
from napari_dcpt.errors import WeightsError
from napari_dcpt.models import build_model, load_weights, read_metadata, save_weights

VOCAB = ("clean", "noise", "blur")


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module, ModelConfig]:
    torch.set_num_threads(1)
    torch.manual_seed(1)
    cfg = ModelConfig(width=8, in_slices=3)
    model = build_model(cfg, len(VOCAB))
    with torch.no_grad():  # non-trivial residual scales so outputs depend on every block
        for name, p in model.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_()
    path = save_weights(tmp_path / "m.safetensors", model, cfg, VOCAB, {"step": 7})
    return path, model, cfg


def test_round_trip_is_bit_identical(saved: tuple) -> None:
    path, model, cfg = saved
    x = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(0))

    loaded, cfg2, vocab = load_weights(path)

    assert cfg2 == cfg and vocab == VOCAB
    with torch.no_grad():
        a, b = model.eval()(x, return_aux=True), loaded(x, return_aux=True)
    for t1, t2 in zip(a, b):
        assert torch.equal(t1, t2)
    assert read_metadata(path)["extra"] == {"step": 7}


def _rewrite_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_config_that_does_not_match_tensors_is_refused(saved: tuple) -> None:
    path, _, cfg = saved

    def widen(h: dict) -> None:
        h["__metadata__"]["model_config"] = cfg.model_copy(update={"width": 16}).model_dump_json()

    _rewrite_header(path, widen)
    with pytest.raises(WeightsError, match="shape mismatch") as info:
        load_weights(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_keys_are_refused(saved: tuple) -> None:
    path, _, cfg = saved

    def deeper(h: dict) -> None:
        h["__metadata__"]["model_config"] = cfg.model_copy(
            update={"middle_blocks": 3}
        ).model_dump_json()

    _rewrite_header(path, deeper)
    with pytest.raises(WeightsError, match="missing"):
        load_weights(path)


def test_tampered_tensor_bytes_are_refused(saved: tuple) -> None:
    path, _, _ = saved
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))

    with pytest.raises(WeightsError, match="checksum"):
        load_weights(path)


def test_truncated_file_is_refused(saved: tuple) -> None:
    path, _, _ = saved
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(WeightsError, match=path.name):
        load_weights(path)


@pytest.mark.parametrize("content", [b"", b"not a weights file", b"\x80\x04K\x01."])
def test_garbage_and_pickles_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)

    with pytest.raises(WeightsError, match="x.safetensors"):
        load_weights(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "nope.safetensors")


def test_rewrite_extra_keeps_tensors_and_merges_metadata(saved: tuple, tmp_path: Path) -> None:
    from napari_dcpt.models.weights import rewrite_extra

    path, model, _ = saved
    out = rewrite_extra(path, tmp_path / "cal.safetensors", {"restore_gain": {"gain": {}}})
    meta, before = read_metadata(out), read_metadata(path)
    assert meta["extra"] == {"step": 7, "restore_gain": {"gain": {}}}
    assert meta["sha256"] == before["sha256"] and meta["model_config"] == before["model_config"]
    loaded, _, _ = load_weights(out)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_rewrite_extra_refuses_a_tampered_file(saved: tuple, tmp_path: Path) -> None:
    from napari_dcpt.models.weights import rewrite_extra

    path, _, _ = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last tensor
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum"):
        rewrite_extra(bad, tmp_path / "out.safetensors", {"x": 1})
    assert not (tmp_path / "out.safetensors").exists()
