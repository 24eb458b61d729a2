"""The bundled noisy MR and low-dose CT samples load as napari sample data."""

import numpy as np
import pytest

pytestmark = pytest.mark.napari


@pytest.mark.parametrize(
    ("key", "modality", "unit"), [("mr_noisy", "MR", ""), ("ct_low_dose", "CT", "HU")]
)
def test_sample_opens_with_its_modality(make_napari_viewer, key, modality, unit):
    # Arrange
    viewer = make_napari_viewer()

    # Act
    viewer.open_sample("napari-dcpt", key)

    # Assert
    (layer,) = viewer.layers
    info = layer.metadata["napari_dcpt"]
    assert (info["modality"], info["unit"]) == (modality, unit)
    assert layer.ndim == 3 and min(layer.data.shape) >= 8
    assert all(s > 0 for s in layer.scale)
    assert np.ptp(np.asarray(layer.data)) > 0


def test_ct_sample_is_in_hounsfield_units():
    from napari_dcpt.plugin._sample_data import make_ct_sample

    ((data, kwargs, kind),) = make_ct_sample()

    assert kind == "image"
    assert kwargs["scale"][0] == pytest.approx(5.0)  # 5 mm slices, anisotropic
    assert np.percentile(data, 1) < -700  # air in HU
