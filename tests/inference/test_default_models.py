"""The shipped default models: present, loadable without pickle, and actually restoring.

These tests fail (not skip) when a weights file is missing or wrong: the package is
not usable without them.
"""

import numpy as np
import pytest

from napari_dcpt import io
from napari_dcpt.degradations import apply_record, sample_record, vocabulary
from napari_dcpt.inference import DEFAULT_WEIGHTS, classify, load_model, restore, run
from napari_dcpt.volume import Volume


def _psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(data_range**2 / mse)


@pytest.mark.parametrize("modality", ["MR", "CT"])
def test_default_weights_load_and_match_the_registry(modality):
    assert DEFAULT_WEIGHTS[modality].stat().st_size < 20 * 2**20
    model = load_model(modality=modality, device="cpu")
    assert model.vocabulary == vocabulary(modality)
    assert model.modality == modality


def _crop(vol: Volume, z: slice, y: slice, x: slice) -> Volume:
    aff = vol.affine.copy()
    aff[:3, 3] = (vol.affine @ np.array([z.start or 0, y.start or 0, x.start or 0, 1.0]))[:3]
    return Volume(np.ascontiguousarray(vol.array[z, y, x]), aff, vol.modality, vol.unit)


@pytest.mark.realdata
@pytest.mark.slow
def test_mr_default_model_raises_psnr_on_held_out_scan(data_dir):
    # itk_t1_coronal is in the MR model's validation split (never trained on)
    clean = io.read(data_dir / "mr/itk_t1_coronal.nii.gz", modality="MR")
    clean = _crop(clean, slice(20, 28), slice(None), slice(None))
    arr = clean.array.astype(np.float32)
    rec = sample_record("MR", 5, types=("rician_noise",), severity="moderate", p_clean=0.0)
    noisy = clean.with_array(apply_record(arr, rec, clean.spacing))
    out = run(restore(noisy, device="cpu")).volume.array
    rng = float(np.percentile(arr, 99.5))
    assert _psnr(out, arr, rng) > _psnr(noisy.array, arr, rng) + 1.0


def _ct_low_dose(data_dir):
    lung = io.read(data_dir / "ct/lung1.nrrd", modality="CT")
    clean = _crop(lung, slice(40, 44), slice(None), slice(None))  # validation slab
    arr = clean.array.astype(np.float32)
    rec = sample_record("CT", 5, types=("low_dose",), severity="severe", p_clean=0.0)
    return arr, clean.with_array(apply_record(arr, rec, clean.spacing))


@pytest.mark.realdata
@pytest.mark.slow
def test_ct_default_model_raises_psnr(data_dir):
    arr, noisy = _ct_low_dose(data_dir)
    result = run(restore(noisy, device="cpu"))
    assert _psnr(result.volume.array, arr, 2000.0) > _psnr(noisy.array, arr, 2000.0) + 1.0


@pytest.mark.realdata
@pytest.mark.slow
def test_ct_default_model_reports_low_dose(data_dir):
    # an xfail until session 8: the session-5 CT head ranked sparse_view (0.63) above
    # low_dose (0.51) on this case
    _, noisy = _ct_low_dose(data_dir)
    report = classify(noisy, device="cpu", max_slices=4)
    assert report.findings[0].type == "low_dose" and report.findings[0].probability > 0.5


@pytest.mark.realdata
@pytest.mark.slow
def test_ct_default_model_reports_sparse_view(data_dir):
    lung = io.read(data_dir / "ct/lung1.nrrd", modality="CT")
    clean = _crop(lung, slice(40, 44), slice(None), slice(None))  # validation slab
    arr = clean.array.astype(np.float32)
    rec = sample_record("CT", 5, types=("sparse_view",), severity="moderate", p_clean=0.0)
    report = classify(clean.with_array(apply_record(arr, rec, clean.spacing)), device="cpu")
    assert report.findings[0].type == "sparse_view" and report.findings[0].probability > 0.5


@pytest.mark.realdata
@pytest.mark.slow
def test_tiled_matches_untiled_with_the_trained_model(data_dir):
    lung = io.read(data_dir / "ct/lung1.nrrd", modality="CT")
    vol = _crop(lung, slice(40, 42), slice(100, 356), slice(100, 356))
    whole = run(restore(vol, device="cpu", tile=256)).volume.array.astype(np.float32)
    tiled = run(restore(vol, device="cpu", tile=128, overlap=0.25)).volume.array
    diff = np.abs(whole - tiled.astype(np.float32))
    assert np.mean(diff) < 5.0  # HU
    assert np.percentile(diff, 99) < 25.0


@pytest.mark.realdata
def test_classify_clean_scan_is_fast_and_sane(data_dir):
    vol = io.read(data_dir / "mr/itk_t1_coronal.nii.gz", modality="MR")
    report = classify(vol, device="cpu", max_slices=4)
    assert 0.0 <= report.clean_probability <= 1.0
    assert report.n_samples == 4
