"""Untrusted weights: only napari-dcpt safetensors files load; a pickle is never unpickled,
and a file whose embedded config does not match its tensors is refused -- end to end
through the command line (exit 1, one line naming the file)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file


class _Exploit:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _restore(cli, nifti: Path, out: Path, weights: Path) -> tuple[int, str, str]:
    return cli("restore", nifti, out, "--weights", weights)


def _assert_refused(result: tuple[int, str, str], weights: Path, out: Path) -> None:
    code, _, err = result
    assert code == 1
    assert err.count("\n") == 1 and str(weights) in err, err
    assert not out.exists()


def test_config_not_matching_tensors_is_refused(tiny_weights, nifti_inputs, tmp_path, cli):
    # Arrange: same tensors (checksum still valid), embedded config claims width 16
    with safe_open(str(tiny_weights), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["model_config"])
    cfg["width"] = 16
    meta["model_config"] = json.dumps(cfg)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    out = tmp_path / "o.nii.gz"
    # Act / Assert
    _assert_refused(_restore(cli, nifti_inputs[0], out, bad), bad, out)


def test_tampered_tensors_are_refused(tiny_weights, nifti_inputs, tmp_path, cli):
    with safe_open(str(tiny_weights), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k).clone() for k in f.keys()}
    name = next(iter(tensors))
    tensors[name] += 1.0
    bad = tmp_path / "tampered.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    out = tmp_path / "o.nii.gz"
    _assert_refused(_restore(cli, nifti_inputs[0], out, bad), bad, out)


@pytest.mark.parametrize("name", ["model.pt", "model.safetensors", "model.pth"])
def test_pickle_given_as_weights_is_refused_and_never_unpickled(
    tiny_weights, nifti_inputs, tmp_path, cli, name
):
    # Arrange: a pickle that would create a file if anything unpickled it
    import torch

    marker = tmp_path / "pwned"
    evil = tmp_path / name
    torch.save({"state_dict": _Exploit(marker)}, str(evil))
    plain = tmp_path / ("plain_" + name)
    with open(plain, "wb") as fh:
        pickle.dump(_Exploit(marker), fh)
    out = tmp_path / "o.nii.gz"
    # Act / Assert
    for w in (evil, plain):
        _assert_refused(_restore(cli, nifti_inputs[0], out, w), w, out)
    assert not marker.exists()


def test_training_checkpoints_load_with_weights_only():
    # The only torch.load calls in the package and the training code pass weights_only=True.
    import re

    root = Path(__file__).parents[2]
    calls = []
    for py in [*(root / "src").rglob("*.py"), *(root / "training").rglob("*.py")]:
        for m in re.finditer(r"torch\.load\((?:[^()]|\([^()]*\))*\)", py.read_text()):
            calls.append((py.name, m.group(0)))
    assert calls, "expected at least the training checkpoint loader"
    assert [c for c in calls if "weights_only=True" not in c[1]] == []
