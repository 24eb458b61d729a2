"""napari sample data: the bundled noisy MR and low-dose CT scans, as image layers."""

from __future__ import annotations

from dataclasses import replace


def _sample_layer(modality: str, name: str) -> list[tuple]:
    from napari_dcpt import io
    from napari_dcpt.plugin._layers import volume_to_layer_data
    from napari_dcpt.samples import sample_paths

    vol = io.read(sample_paths()[modality])
    if vol.modality != modality:
        # the samples are ours: their modality is known even if a header lost it
        vol = replace(vol, modality=modality, unit="HU" if modality == "CT" else "")
    return [volume_to_layer_data(vol, name=name)]


def make_mr_sample() -> list[tuple]:
    """Colin27 T1 brain, 20 axial slices with moderate simulated Rician noise."""
    return _sample_layer("MR", "MR sample (noisy)")


def make_ct_sample() -> list[tuple]:
    """Chest CT, 12 slices (320 x 320 crop) with a simulated low-dose acquisition (HU)."""
    return _sample_layer("CT", "CT sample (low dose)")
