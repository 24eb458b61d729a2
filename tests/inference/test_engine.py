import numpy as np
import pytest

from napari_dcpt.errors import DcptError, OutOfScopeError
from napari_dcpt.inference import Progress, classify, restore, run
from napari_dcpt.volume import Volume


def test_restore_keeps_shape_dtype_geometry_and_yields_progress(tiny_weights, mr_volume):
    gen = restore(mr_volume, model=tiny_weights, device="cpu", batch_size=2)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert all(isinstance(e, Progress) for e in events)
    assert events[-1].stage == "restore" and events[-1].fraction == 1.0
    out = result.volume
    assert out.shape == mr_volume.shape and out.array.dtype == mr_volume.array.dtype
    np.testing.assert_array_equal(out.affine, mr_volume.affine)
    assert out.modality == "MR"
    assert result.report.modality == "MR"
    assert {f.type for f in result.report.findings} == {"rician_noise", "blur"}


def test_tiled_and_untiled_agree(tiny_weights, mr_volume):
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(mr_volume.array.astype(np.float32), 2).astype(np.float32)
    vol = mr_volume.with_array(smooth)
    whole = run(restore(vol, model=tiny_weights, device="cpu", tile=64)).volume
    tiled = run(restore(vol, model=tiny_weights, device="cpu", tile=32, overlap=0.5)).volume
    # The network's channel attention pools over its whole input, so a tile is not
    # exactly a crop of the whole; Gaussian blending keeps the seams small compared
    # with what the (random, untrained) network changes at all.
    diff = np.abs(whole.array - tiled.array)
    change = np.abs(whole.array - smooth)
    assert np.mean(diff) <= 0.1 * np.mean(change)
    assert np.median(diff) <= 0.02 * np.median(change) + 1e-3


def test_change_is_scaled_by_the_reports_belief_that_something_is_wrong(tiny_weights, mr_volume):
    vol = mr_volume.with_array(mr_volume.array.astype(np.float32))  # no rounding on output
    full = run(restore(vol, model=tiny_weights, device="cpu", scale_by_report=False))
    scaled = run(restore(vol, model=tiny_weights, device="cpu"))
    p_clean = scaled.report.clean_probability
    assert 0.0 < p_clean < 1.0  # the random head is unsure: a real blend is tested
    assert full.strength == 1.0 and scaled.strength == pytest.approx(1.0 - p_clean)
    assert scaled.volume.meta["restore_strength"] == pytest.approx(1.0 - p_clean, abs=1e-4)
    x = vol.array
    expected = x + (1.0 - p_clean) * (full.volume.array - x)
    np.testing.assert_allclose(scaled.volume.array, expected, rtol=1e-5, atol=1e-3)
    assert not np.allclose(scaled.volume.array, full.volume.array, atol=1e-2)


def test_preview_restores_only_requested_slices(tiny_weights, mr_volume):
    out = run(restore(mr_volume, model=tiny_weights, device="cpu", slices=[2])).volume
    np.testing.assert_array_equal(out.array[[0, 1, 3, 4]], mr_volume.array[[0, 1, 3, 4]])
    assert not np.array_equal(out.array[2], mr_volume.array[2])


def test_2d_image(tiny_weights, mr_volume):
    img = Volume(mr_volume.array[2], mr_volume.affine, modality="MR")
    out = run(restore(img, model=tiny_weights, device="cpu")).volume
    assert out.shape == img.shape


def test_classify_report_is_sorted_and_json_safe(tiny_weights, mr_volume):
    import json

    rep = classify(mr_volume, model=tiny_weights, device="cpu")
    probs = [f.probability for f in rep.findings]
    assert probs == sorted(probs, reverse=True)
    assert 0 <= rep.clean_probability <= 1
    json.dumps(rep.to_dict())
    assert rep.summary().startswith("MR: ")


def test_nan_and_unknown_modality_refused(tiny_weights, mr_volume):
    bad = mr_volume.with_array(np.where(mr_volume.array > 400, np.nan, mr_volume.array))
    with pytest.raises(DcptError, match="NaN"):
        run(restore(bad, model=tiny_weights, device="cpu"))
    unknown = Volume(mr_volume.array, mr_volume.affine, modality="unknown")
    with pytest.raises(DcptError, match="modality unknown"):
        run(restore(unknown, device="cpu"))
    radiograph = Volume(
        mr_volume.array, mr_volume.affine, modality="unknown", meta={"modality": "CR"}
    )
    with pytest.raises(
        DcptError, match="the DICOM header says modality CR, and the models restore MR"
    ):
        run(restore(radiograph, device="cpu"))
    with pytest.raises(OutOfScopeError, match="says modality CR"):  # a weights file is no licence
        run(restore(radiograph, model=tiny_weights, device="cpu"))


def test_a_constant_image_is_refused_by_restore_and_classify(tiny_weights, mr_volume):
    # A blank series has nothing to restore; a report on it would be noise
    blank = mr_volume.with_array(np.full_like(mr_volume.array, 7))
    with pytest.raises(DcptError, match="every voxel is 7: a constant image"):
        run(restore(blank, model=tiny_weights, device="cpu"))
    with pytest.raises(DcptError, match="every voxel is 7: a constant image"):
        classify(blank, model=tiny_weights, device="cpu")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"threads": 0}, "threads must be >= 1"), ({"max_slices": 0}, "max_slices must be >= 1")],
)
def test_classify_refuses_out_of_range_arguments(tiny_weights, mr_volume, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        classify(mr_volume, model=tiny_weights, device="cpu", **kwargs)


def test_wrong_modality_model_refused(tiny_weights, mr_volume):
    ct = Volume(mr_volume.array, mr_volume.affine, modality="CT")
    with pytest.raises(DcptError, match="trained for MR"):
        run(restore(ct, model=tiny_weights, device="cpu"))


def test_cancel_by_closing_generator(tiny_weights, mr_volume):
    gen = restore(mr_volume, model=tiny_weights, device="cpu", batch_size=1)
    next(gen)
    gen.close()  # GeneratorExit inside: nothing left running
    with pytest.raises(StopIteration):
        next(gen)


def _with_gains(src, dst, gain, recall=None, removed=None):
    from napari_dcpt.models.weights import rewrite_extra

    table = {"gain": gain, "recall": recall, "removed": removed}
    return rewrite_extra(src, dst, {"restore_gain": {k: v for k, v in table.items() if v}})


def test_calibration_table_sets_the_strength(tiny_weights, mr_volume, tmp_path):
    vol = mr_volume.with_array(mr_volume.array.astype(np.float32))
    base = run(restore(vol, model=tiny_weights, device="cpu"))
    # a table of ones: the chance that any type is present, times 1 - p(clean)
    ones = _with_gains(tiny_weights, tmp_path / "ones.safetensors", {"blur": [1, 1, 1]})
    res = run(restore(vol, model=ones, device="cpu"))
    p = [f.probability for f in res.report.findings]
    any_type = 1 - np.prod([1 - q for q in p])
    assert res.strength == pytest.approx(base.strength * any_type)

    zero = {"rician_noise": [0, 0, 0], "blur": [0, 0, 0]}
    none = run(restore(vol, model=_with_gains(tiny_weights, tmp_path / "z.st", zero)))
    assert none.strength == 0.0
    np.testing.assert_array_equal(none.volume.array, vol.array)  # nothing it cannot fix

    # one type trusted at moderate severity only: the chance it is present and fixable
    table = {"rician_noise": [0.0, 1.0, 0.0], "blur": [0.0, 0.0, 0.0]}
    res = run(restore(vol, model=_with_gains(tiny_weights, tmp_path / "m.st", table)))
    rep = res.report
    noise = next(x for x in rep.findings if x.type == "rician_noise")
    sev = np.asarray(noise.severity_probabilities[1:])
    expected = (1 - rep.clean_probability) * noise.probability * sev[1] / sev.sum()
    assert 0.0 < expected < base.strength
    assert res.strength == pytest.approx(expected, rel=1e-6)
    assert res.volume.meta["restore_strength"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "gain, recall, problem",
    [
        ({"blur": [0.5, 1.2, 1.0]}, None, "gain of 'blur' must lie in 0..1"),
        ({"spike": [1, 1, 1]}, None, "spike"),
        ({"blur": [1]}, None, "blur"),
        ({"blur": [1, 1, 1]}, {"blur": [0, 2, 0]}, "recall of 'blur' must lie in 0..1"),
        ({"blur": [1, 1, 1]}, ["blur"], "malformed"),
    ],
)
def test_a_bad_calibration_table_is_refused(tiny_weights, tmp_path, gain, recall, problem):
    from napari_dcpt.errors import WeightsError
    from napari_dcpt.inference.engine import load_model

    path = _with_gains(tiny_weights, tmp_path / "bad.safetensors", gain, recall)
    with pytest.raises(WeightsError, match=problem):
        load_model(path)


def test_report_says_which_findings_the_model_does_not_correct(tiny_weights, mr_volume, tmp_path):
    from napari_dcpt.inference.report import Finding

    plain = classify(mr_volume, model=tiny_weights, device="cpu")
    assert all(f.gain is None and f.corrected for f in plain.findings)  # uncalibrated

    table = {"blur": [0.0, 0.1, 0.2]}  # rician_noise is not in the table: trusted (1)
    rep = classify(mr_volume, model=_with_gains(tiny_weights, tmp_path / "c.st", table))
    f = {x.type: x for x in rep.findings}
    sev = np.asarray(f["blur"].severity_probabilities[1:])
    assert f["blur"].gain == pytest.approx(float(sev @ [0.0, 0.1, 0.2] / sev.sum()))
    assert not f["blur"].corrected and f["rician_noise"].corrected
    assert f["rician_noise"].gain == pytest.approx(1.0)

    bias = Finding("bias_field", 0.81, "mild", gain=0.0)
    assert bias.label() == "bias field, mild, p=0.81 (not corrected by this model)"
    assert Finding("spike", 0.9, "severe", gain=0.9).label() == "spike, severe, p=0.90"
    assert f["blur"].recall is None and f["blur"].reliable  # a table without recall


def test_report_says_which_types_it_rarely_names_on_unseen_scans(tiny_weights, mr_volume, tmp_path):
    from napari_dcpt.inference.report import Finding

    table, recall = {"blur": [1, 1, 1]}, {"blur": [0.0, 0.25, 0.5]}
    rep = classify(mr_volume, model=_with_gains(tiny_weights, tmp_path / "r.st", table, recall))
    f = {x.type: x for x in rep.findings}
    sev = np.asarray(f["blur"].severity_probabilities[1:])
    assert f["blur"].recall == pytest.approx(float(sev @ [0.0, 0.25, 0.5] / sev.sum()))
    assert not f["blur"].reliable  # at most 0.5, and only if severe were certain
    assert f["rician_noise"].recall == pytest.approx(1.0) and f["rician_noise"].reliable

    bias = Finding("bias_field", 0.45, "mild", gain=0.0, recall=0.0)
    assert bias.label() == (
        "bias field, mild, p=0.45 (not corrected by this model; named in 0% of unseen test cases)"
    )
    assert Finding("spike", 0.9, "severe", gain=0.9, recall=0.5).label() == "spike, severe, p=0.90"


def test_a_finding_whose_small_change_all_helps_is_still_not_corrected(
    tiny_weights, mr_volume, tmp_path
):
    """A gain of 1 says all of the change helps, not that it is large: the report calls a
    finding corrected only if the calibrated change removes a tenth of its error."""
    from napari_dcpt.inference.report import Finding

    gain, removed = {"blur": [1.0, 1.0, 1.0]}, {"blur": [0.02, 0.05, 0.08]}
    w = _with_gains(tiny_weights, tmp_path / "removed.st", gain, removed=removed)
    f = {x.type: x for x in classify(mr_volume, model=w).findings}
    sev = np.asarray(f["blur"].severity_probabilities[1:])
    assert f["blur"].removed == pytest.approx(float(sev @ [0.02, 0.05, 0.08] / sev.sum()))
    assert f["blur"].gain == pytest.approx(1.0) and not f["blur"].corrected
    assert f["rician_noise"].removed == pytest.approx(1.0) and f["rician_noise"].corrected

    assert not Finding("undersampling", 0.9, "mild", gain=1.0, removed=0.03).corrected
    assert Finding("spike", 0.9, "mild", gain=1.0, removed=0.6).corrected
    assert not Finding("spike", 0.9, "mild", gain=0.1, removed=0.6).corrected  # gain rules too
    assert Finding("spike", 0.9, "mild", gain=0.9).corrected  # a file calibrated before


def test_a_2_5d_model_restores_each_slice_from_its_neighbours(mr_volume, tmp_path):
    import torch

    from napari_dcpt.config import ModelConfig
    from napari_dcpt.inference.normalise import normaliser_for
    from napari_dcpt.models import build_model, save_weights

    torch.manual_seed(1)
    cfg = ModelConfig(width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1, in_slices=3)
    net = build_model(cfg, 3).eval()
    path = tmp_path / "wide_mr.safetensors"
    save_weights(path, net, cfg, ("clean", "rician_noise", "blur"), {"modality": "MR"})
    vol = mr_volume.with_array(mr_volume.array.astype(np.float32))
    out = run(restore(vol, model=path, device="cpu", scale_by_report=False)).volume.array
    a = vol.array
    norm = normaliser_for("MR", a.ravel())
    for z, neighbours in ((2, [1, 2, 3]), (0, [0, 0, 1]), (4, [3, 4, 4])):  # ends replicated
        x = torch.from_numpy(norm.forward(a[neighbours])[None])
        with torch.no_grad():
            want = norm.inverse(net(x)[0, 0].numpy())
        np.testing.assert_allclose(out[z], want, rtol=1e-4, atol=1e-3)
