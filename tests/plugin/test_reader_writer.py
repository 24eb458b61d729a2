import numpy as np
import pytest

from napari_dcpt import io
from napari_dcpt.plugin._reader import get_reader
from napari_dcpt.plugin._writer import write_nifti

pytestmark = pytest.mark.napari


def test_get_reader_accepts_images_and_declines_the_rest(tmp_path, phantom):
    nii = io.write(phantom, tmp_path / "p.nii.gz")
    (tmp_path / "notes.txt").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert callable(get_reader(str(nii)))
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(empty)) is None
    assert get_reader(str(tmp_path / "missing.xyz")) is None


def test_open_nifti_gives_scaled_reoriented_layer(make_napari_viewer, tmp_path, phantom):
    nii = io.write(phantom, tmp_path / "p.nii.gz")
    viewer = make_napari_viewer()
    layers = viewer.open(str(nii), plugin="napari-dcpt")
    assert len(layers) == 1
    layer = layers[0]
    # oblique phantom: closest axis-aligned display, spacing as scale (mm)
    assert sorted(layer.scale) == pytest.approx(sorted(phantom.spacing))
    assert layer.metadata["napari_dcpt"]["modality"] == "MR"  # kept in the NIfTI descrip
    assert not any("Patient" in k for k in layer.metadata["napari_dcpt"])


def test_axis_aligned_nifti_scale_and_translate(make_napari_viewer, tmp_path):
    import nibabel as nib

    arr = np.zeros((6, 8, 10), np.int16)  # (i, j, k) = (x, y, z)
    arr[1, 2, 3] = 7
    aff = np.array([[-0.5, 0, 0, 20.0], [0, -0.75, 0, 30.0], [0, 0, 2.0, -40.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(arr, aff), tmp_path / "a.nii.gz")  # LPS-aligned RAS affine
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "a.nii.gz"), plugin="napari-dcpt")
    assert tuple(layer.scale) == pytest.approx((2.0, 0.75, 0.5))
    # LPS origin of voxel 0 is (-20, -30, -40); translate is (S, P, L)
    assert tuple(layer.translate) == pytest.approx((-40.0, -30.0, -20.0))
    assert layer.data[3, 2, 1] == 7


def test_writer_round_trips_true_geometry(make_napari_viewer, tmp_path, phantom):
    nii = io.write(phantom, tmp_path / "p.nii.gz")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(nii), plugin="napari-dcpt")
    data, attrs, _ = layer.as_layer_data_tuple()
    (out,) = write_nifti(str(tmp_path / "out.nii.gz"), data, attrs)
    back = io.read(out)
    np.testing.assert_array_equal(back.array, phantom.array)
    np.testing.assert_allclose(back.affine, phantom.affine, atol=1e-5)


def test_writer_via_viewer_save(make_napari_viewer, tmp_path, phantom):
    nii = io.write(phantom, tmp_path / "p.nii.gz")
    viewer = make_napari_viewer()
    viewer.open(str(nii), plugin="napari-dcpt")
    viewer.layers.save(str(tmp_path / "saved.nii.gz"), plugin="napari-dcpt")
    np.testing.assert_array_equal(io.read(tmp_path / "saved.nii.gz").array, phantom.array)


def test_corrupt_file_notifies_without_exception(make_napari_viewer, tmp_path, monkeypatch):
    import napari.utils.notifications as notes

    shown = []
    monkeypatch.setattr(notes, "show_error", lambda msg: shown.append(msg))
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"garbage" * 20)
    viewer = make_napari_viewer()
    viewer.open(str(bad), plugin="napari-dcpt")
    assert len(viewer.layers) == 0
    assert len(shown) == 1 and "bad.nii.gz" in shown[0] and "\n" not in shown[0]


def _write_series(*args, **kwargs):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
    from dicom_phantom import write_series

    return write_series(*args, **kwargs)


def test_open_dicom_folder_one_layer_per_series(make_napari_viewer, tmp_path, phantom):
    from napari_dcpt.io import geometry

    folder = tmp_path / "study"
    _write_series(folder / "a", phantom.array, phantom.affine, description="T1 axial")
    aligned = np.diag([3.0, 0.8, 0.6, 1.0])
    aligned[:3, :3] = aligned[:3, :3][:, ::-1][::-1]  # z->S, y->P, x->L (LPS-aligned)
    aligned[:3, 3] = (10.0, -20.0, 30.0)
    _write_series(folder / "b", phantom.array[:5], aligned, description="T2 axial")
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder), plugin="napari-dcpt")
    by_name = {layer.name: layer for layer in layers}
    assert set(by_name) == {"T1 axial", "T2 axial"}
    t2 = by_name["T2 axial"]
    assert tuple(t2.scale) == pytest.approx((3.0, 0.8, 0.6))
    assert tuple(t2.translate) == pytest.approx((30.0, -20.0, 10.0))
    perm, flip, scale, translate = geometry.napari_scale_translate(phantom.affine, phantom.shape)
    t1 = by_name["T1 axial"]
    assert tuple(t1.scale) == pytest.approx(scale)
    assert tuple(t1.translate) == pytest.approx(translate, abs=1e-4)


def test_dicom_writer_round_trips_derived_series(make_napari_viewer, tmp_path, phantom):
    from napari_dcpt.plugin._writer import write_dicom

    _write_series(tmp_path / "src", phantom.array, phantom.affine)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "src"), plugin="napari-dcpt")
    data, attrs, _ = layer.as_layer_data_tuple()
    (out,) = write_dicom(str(tmp_path / "derived"), data + 1, attrs)
    back = io.read(out)
    np.testing.assert_allclose(back.array, phantom.array + 1, atol=0.5)
    np.testing.assert_allclose(back.affine, phantom.affine, atol=1e-4)
    assert "DERIVED" in back.meta["dicom_headers"][0].ImageType
