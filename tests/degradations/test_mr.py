"""Statistical tests of the MR simulators (napari_dcpt.degradations.mr via apply_record)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_dcpt.degradations import SEVERITIES, apply_record, sample_record, vocabulary
from napari_dcpt.degradations.mr import bias_field_map
from napari_dcpt.degradations.registry import DegradationRecord


def _rec(name: str, **params) -> DegradationRecord:
    return DegradationRecord("MR", (name,), ("moderate",), (params,), 0)


def _phantom(n: int = 128) -> np.ndarray:
    img = np.zeros((n, n), np.float32)
    img[n // 4 : 3 * n // 4, n // 4 : 3 * n // 4] = 100.0
    return img


def test_rician_zero_background_is_rayleigh_and_bright_std_is_sigma() -> None:
    # Arrange: half zero, half bright uniform (100); the scale is the 99.5th pct = 100.
    img = np.zeros((256, 256), np.float32)
    img[:, 128:] = 100.0
    sigma = 0.05
    # Act
    out = apply_record(img, _rec("rician_noise", sigma=sigma, seed=1), (1.0, 1.0))
    # Assert
    s = sigma * 100.0
    assert out[:, :128].mean() == pytest.approx(s * np.sqrt(np.pi / 2), rel=0.05)
    assert out[:, 128:].std() == pytest.approx(s, rel=0.05)


def test_gibbs_overshoots_beside_edge_and_is_nonnegative() -> None:
    img = _phantom()
    out = apply_record(img, _rec("gibbs_ringing", keep=0.5), (1.0, 1.0))
    assert out.min() >= 0
    assert out[64, 32:96].max() > 104.0  # ~9 % Gibbs overshoot next to the edge


@pytest.mark.parametrize("name", [n for n in vocabulary("MR")[1:]])
def test_every_mr_type_returns_nonnegative_magnitude(name: str) -> None:
    img = _phantom(64)
    rec = sample_record("MR", 5, types=name, severity="severe")
    out = apply_record(img, rec, (1.0, 1.0))
    assert out.shape == img.shape and out.dtype == img.dtype
    assert out.min() >= 0


def test_motion_with_zero_displacement_is_identity() -> None:
    img = _phantom(64) + 5.0
    rec = _rec("motion", axis=0, times=[0.3, 0.7], shifts_mm=[[0, 0]] * 3, angles_deg=[0.0] * 3)
    out = apply_record(img, rec, (1.0, 1.0))
    np.testing.assert_allclose(out, img, atol=1e-3)


def test_motion_with_displacement_changes_image() -> None:
    img = _phantom(64)
    rec = _rec(
        "motion",
        axis=0,
        times=[0.3, 0.7],
        shifts_mm=[[3, 0], [0, 0], [0, -3]],
        angles_deg=[3.0, 0.0, -2.0],
    )
    out = apply_record(img, rec, (1.0, 1.0))
    assert np.abs(out - img).mean() > 1.0


def test_bias_field_is_smooth_positive_with_requested_ratio() -> None:
    field = bias_field_map((64, 80), np.random.default_rng(0).standard_normal(9), 1.5)
    assert field.min() > 0
    assert field.max() / field.min() == pytest.approx(1.5, rel=1e-3)
    # Smooth: neighbouring pixels differ by far less than the field's range.
    assert np.abs(np.diff(field, axis=1)).max() < 0.05 * (field.max() - field.min()) * 10 / 8


def test_bias_field_ratio_holds_over_the_anatomy_not_the_box() -> None:
    # A head in the middle of a wide field of view: measured over the box, the cubic's
    # extremes would sit in the empty corners and leave the anatomy nearly flat.
    img = _phantom(96)
    mask = img > 0.1 * np.percentile(img, 99.5)
    assert 0.1 < mask.mean() < 0.9
    for seed, ratio in ((3, 1.5), (4, 2.0)):
        rec = _rec("bias_field", ratio=ratio, seed=seed)
        field = apply_record(img, rec, (1.0, 1.0))[mask] / img[mask]
        assert field.max() / field.min() == pytest.approx(ratio, rel=1e-3)
        # geometric mean 1 over the anatomy, so the scan's overall brightness stays put
        assert np.exp(np.log(field).mean()) == pytest.approx(1.0, abs=1e-3)
    coeffs = np.random.default_rng(0).standard_normal(9)
    out = bias_field_map((96, 96), coeffs, 2.0, mask)
    # clipped outside: nowhere stronger than over the anatomy
    assert out.max() / out.min() == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(ValueError, match="mask"):
        bias_field_map((96, 96), coeffs, 2.0, mask[:-1])


def test_mr_type_refuses_ct_volume() -> None:
    ct = np.full((32, 32), -1000.0, np.float32)
    ct[8:24, 8:24] = 40.0
    with pytest.raises(ValueError, match="CT"):
        apply_record(ct, sample_record("MR", 0, types="rician_noise"), (1.0, 1.0))


def test_3d_volume_with_thick_slices() -> None:
    vol = np.zeros((16, 32, 32), np.float32)
    vol[8:, 8:24, 8:24] = 100.0
    rec = sample_record("MR", 2, types="blur", severity="severe")
    out = apply_record(vol, rec, (1.0, 1.0, 1.0))
    assert out.shape == vol.shape
    # Partial volume across the z edge at slice 8: neighbours get intermediate values.
    assert 5.0 < out[7, 16, 16] < 95.0


@pytest.mark.parametrize("sev", SEVERITIES)
def test_undersampling_aliasing_increases_error(sev: str) -> None:
    img = _phantom(64)
    rec = sample_record("MR", 3, types="undersampling", severity=sev)
    out = apply_record(img, rec, (1.0, 1.0))
    assert np.abs(out - img).mean() > 0.1
