"""`training.calibrate`: the gain table measures the share of the change that helps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_dcpt.degradations import SEVERITIES
from napari_dcpt.inference import engine


def _mr_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:6, :48, :48]
    arr = 400 * np.exp(-((y - 24.0) ** 2 + (x - 24.0) ** 2) / 300) + rng.random((6, 48, 48)) * 20
    path = tmp_path / "mr.nii.gz"
    nib.save(nib.Nifti1Image(arr.T.astype(np.float32), np.eye(4)), path)  # nibabel is x, y, z
    return path


# A network that overshoots twice is trusted for half its change; one that is right, all
# of it; one that moves away from clean, none. One that stops half way would need 2x:
# the table never extrapolates past the network's own output, and removes 3/4 of the
# squared error. One that moves a twentieth of the way is trusted fully (gain 1) but
# removes under a tenth of the error: the report must not call that a correction.
@pytest.mark.parametrize(
    "share, expected, removed",
    [(2.0, 0.5, 1.0), (1.0, 1.0, 1.0), (-1.0, 0.0, 0.0), (0.5, 1.0, 0.75), (0.05, 1.0, 0.0975)],
)
def test_gain_is_the_share_of_the_change_that_moves_towards_clean(
    tmp_path, monkeypatch, tiny_weights, share, expected, removed
):
    from training.calibrate import _slabs, calibrate

    path = _mr_file(tmp_path)
    clean, _ = _slabs(path, "MR", 4)
    real_restore = engine.restore

    def oracle(volume, **kw):
        # a stand-in network whose change is `share` x (clean - input)
        res = yield from real_restore(volume, **kw)
        out = volume.array + share * (clean - volume.array)
        return replace(res, volume=volume.with_array(out.astype(np.float32)))

    monkeypatch.setattr(engine, "restore", oracle)
    table = calibrate(tiny_weights, [path], repeats=1, slices=4)
    assert set(table["gain"]) == {"rician_noise", "blur"}
    for row in table["gain"].values():
        assert row == pytest.approx([expected] * len(SEVERITIES), abs=1e-3)
    for row in table["removed"].values():
        assert row == pytest.approx([removed] * len(SEVERITIES), abs=1e-3)


def test_recall_is_the_share_of_a_types_cases_its_report_names(tmp_path, monkeypatch, tiny_weights):
    from napari_dcpt.inference.report import DegradationReport, Finding
    from training.calibrate import calibrate

    path = _mr_file(tmp_path)
    real_restore = engine.restore
    calls = []

    def reporter(volume, **kw):
        # a stand-in report that always names blur, and noise every other call
        res = yield from real_restore(volume, **kw)
        calls.append(1)
        noise = 0.9 if len(calls) % 2 == 0 else 0.1
        found = (Finding("blur", 0.8, "mild"), Finding("rician_noise", noise, "mild"))
        return replace(res, report=DegradationReport("MR", found, 0.1))

    monkeypatch.setattr(engine, "restore", reporter)
    table = calibrate(tiny_weights, [path], repeats=2, slices=4)
    assert table["recall"]["blur"] == [1.0] * len(SEVERITIES)
    # call 1 is the clean slab; then blur's 6 cases, then noise's 6: calls 8, 10, 12 ...
    assert table["recall"]["rician_noise"] == [0.5] * len(SEVERITIES)


def test_calibrate_embeds_a_table_restore_uses(tmp_path, tiny_weights):
    from napari_dcpt.models import read_metadata
    from training.__main__ import main

    path = _mr_file(tmp_path)
    out = tmp_path / "cal.safetensors"
    argv = ["calibrate", str(tiny_weights), str(out), "--volumes", str(path), "--repeats", "1"]
    assert main(argv) == 0
    table = read_metadata(out)["extra"]["restore_gain"]
    assert table["volumes"] == ["mr.nii.gz"] and table["cases"] == 2 * len(SEVERITIES)
    lm = engine.load_model(out)
    assert lm.gains == {t: tuple(v) for t, v in table["gain"].items()}
    assert lm.recall == {t: tuple(v) for t, v in table["recall"].items()}
    assert lm.removed == {t: tuple(v) for t, v in table["removed"].items()}
    tables = (lm.gains, lm.recall, lm.removed)
    assert all(0.0 <= g <= 1.0 for t in tables for row in t.values() for g in row)


def test_default_calibration_set_is_the_validation_split(tmp_path, tiny_weights):
    from napari_dcpt.config import load_training_config
    from napari_dcpt.errors import DcptError
    from napari_dcpt.models.weights import rewrite_extra
    from training.calibrate import validation_volumes

    with pytest.raises(DcptError, match="no embedded training config"):
        validation_volumes(tiny_weights, None)
    root = tmp_path / "data"
    root.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        _mr_file(tmp_path).rename(root / name)
    cfg = load_training_config(Path(__file__).parents[2] / "training/configs/tiny.yaml")
    cfg.data.root, cfg.data.modality = str(root), "MR"
    cfg.data.val_files, cfg.data.train_files = ["b.nii.gz"], None
    w = rewrite_extra(
        tiny_weights, tmp_path / "w.safetensors", {"training_config": cfg.model_dump(mode="json")}
    )
    assert [p.name for p in validation_volumes(w, None)] == ["b.nii.gz"]
    other = tmp_path / "other"
    other.mkdir()
    _mr_file(tmp_path).rename(other / "c.nii.gz")
    with pytest.raises(ValueError, match="matches no MR series"):
        validation_volumes(w, str(other))  # --data-root without the named file


def test_bad_calibration_volumes_are_one_line_errors(tmp_path, tiny_weights, capsys):
    from training.__main__ import main

    empty = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 32, 4), np.float32), np.eye(4)), empty)
    out = str(tmp_path / "o.safetensors")
    for vol, problem in ((empty, "no foreground"), (tmp_path / "gone.nii.gz", "no such file")):
        assert main(["calibrate", str(tiny_weights), out, "--volumes", str(vol)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and vol.name in err and problem in err
    assert not Path(out).exists()
