import numpy as np
import pytest

from napari_dcpt.io import geometry


def _conftest():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("c", Path(__file__).parents[1] / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_nifti_affine_round_trip():
    aff = _conftest().oblique_affine()
    back = geometry.affine_from_nifti(geometry.affine_to_nifti(aff))
    np.testing.assert_allclose(back, aff, atol=1e-12)


def test_nifti_affine_is_ras_and_reversed():
    nifti = np.diag([2.0, 3.0, 4.0, 1.0])  # i->R 2mm, j->A 3mm, k->S 4mm
    aff = geometry.affine_from_nifti(nifti)
    # array axis 0 (z=k) goes +S by 4 mm; axis 2 (x=i) goes -L (R) by 2 mm in LPS
    np.testing.assert_allclose(aff[:3, 0], [0, 0, 4])
    np.testing.assert_allclose(aff[:3, 1], [0, -3, 0])
    np.testing.assert_allclose(aff[:3, 2], [-2, 0, 0])


def test_itk_affine_round_trip():
    aff = _conftest().oblique_affine()
    origin, spacing, direction = geometry.affine_to_itk(aff)
    assert spacing == pytest.approx((0.9, 0.7, 2.5))
    np.testing.assert_allclose(
        geometry.affine_from_itk(origin, spacing, direction), aff, atol=1e-12
    )


def test_dicom_affine_matches_positions():
    aff = _conftest().oblique_affine()
    iop = geometry.dicom_orientation(aff)
    p0 = geometry.dicom_position(aff, 0)
    p1 = geometry.dicom_position(aff, 1)
    rebuilt = geometry.affine_from_dicom(iop, p0, (0.7, 0.9), p1 - p0)
    np.testing.assert_allclose(rebuilt, aff, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_display_transform_keeps_world_positions(seed):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(3)
    signs = rng.choice([-1.0, 1.0], 3)
    lin = np.zeros((3, 3))
    for a in range(3):
        lin[perm[a], a] = signs[a] * (a + 1)
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = rng.normal(size=3) * 10
    shape = (4, 5, 6)
    arr = rng.normal(size=shape)
    p, f = geometry.display_transform(aff)
    disp = geometry.apply_display(arr, p, f)
    daff = geometry.display_affine(aff, shape, p, f)
    # display affine is diagonal and positive: z->S, y->P, x->L
    anti = daff[:3, :3][::-1]  # display axis 0 -> world row 2 (S), ..., axis 2 -> row 0 (L)
    np.testing.assert_allclose(anti, np.diag(np.diag(anti)), atol=1e-12)
    assert np.all(np.diag(anti) > 0)
    # the same voxel value sits at the same world position
    idx = np.array([1, 2, 3])
    src_world = aff @ np.r_[idx, 1]
    didx = np.linalg.solve(daff[:3, :3], src_world[:3] - daff[:3, 3])
    assert disp[tuple(np.rint(didx).astype(int))] == arr[tuple(idx)]
    np.testing.assert_array_equal(geometry.undo_display(disp, p, f), arr)
