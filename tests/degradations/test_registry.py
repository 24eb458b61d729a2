"""Registry, records, reproducibility, validation and MONAI integration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_dcpt.degradations import (
    REGISTRY,
    SEVERITIES,
    DegradationRecord,
    RandomDegradation,
    apply_record,
    registry_table,
    sample_record,
    vocabulary,
)


def _mr() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.zeros((48, 48), np.float32)
    img[10:38, 12:36] = 80.0 + rng.random((28, 24)) * 20
    return img


def _ct() -> np.ndarray:
    yy, xx = np.mgrid[:48, :48] - 23.5
    img = np.full((48, 48), -1000.0, np.float32)
    img[yy**2 + xx**2 < 20**2] = 40.0
    return img


@pytest.mark.parametrize("key", sorted(REGISTRY))
@pytest.mark.parametrize("sev", SEVERITIES)
def test_every_type_and_severity_reproducible_from_record(key: tuple[str, str], sev: str) -> None:
    modality, name = key
    img = _mr() if modality == "MR" else _ct()
    rec = sample_record(modality, 11, types=name, severity=sev)
    out1 = apply_record(img, rec, (1.0, 1.0))
    rec2 = DegradationRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    out2 = apply_record(img, rec2, (1.0, 1.0))
    np.testing.assert_array_equal(out1, out2)
    assert not np.array_equal(out1, img)


def test_vocabulary_labels_and_targets() -> None:
    vocab = vocabulary("CT")
    assert vocab == ("clean", "low_dose", "sparse_view", "blur", "ring")
    rec = sample_record("CT", 1, types=("ring", "blur"), severity=("severe", "mild"))
    assert rec.types == ("blur", "ring")  # application order
    np.testing.assert_array_equal(rec.label(vocab), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(rec.severity_targets(vocab), [0, 0, 0, 1, 3])
    clean = sample_record("CT", 1, types="clean")
    np.testing.assert_array_equal(clean.label(vocab), [1, 0, 0, 0, 0])


def test_sampling_statistics() -> None:
    recs = [sample_record("MR", s, p_clean=0.2, p_mix=0.5) for s in range(400)]
    clean = np.mean([r.is_clean for r in recs])
    mixed = np.mean([len(r.types) > 1 for r in recs if not r.is_clean])
    assert 0.14 < clean < 0.26
    assert 0.42 < mixed < 0.58
    assert max(len(r.types) for r in recs) == 3


def test_mixture_is_reproducible_and_preserves_dtype_and_kind() -> None:
    img = torch.from_numpy((_mr()).astype(np.int16))
    rec = sample_record("MR", 7, types=("motion", "rician_noise", "bias_field"))
    out = apply_record(img, rec, (1.0, 1.0))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int16
    assert torch.equal(out, apply_record(img, rec, (1.0, 1.0)))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"modality": "PET", "seed": 0}, "modality"),
        ({"modality": "MR", "seed": 0, "p_clean": 1.5}, "p_clean"),
        ({"modality": "MR", "seed": 0, "max_types": 9}, "max_types"),
        ({"modality": "MR", "seed": 0, "types": "low_dose"}, "types"),
        ({"modality": "MR", "seed": 0, "types": "blur", "severity": "awful"}, "severity"),
    ],
)
def test_invalid_sampling_parameters_raise(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        sample_record(**kwargs)


@pytest.mark.parametrize(
    ("modality", "name", "params", "bad"),
    [
        ("MR", "rician_noise", {"sigma": -0.1, "seed": 0}, "sigma"),
        ("MR", "gibbs_ringing", {"keep": 0.0}, "keep"),
        ("MR", "ghosting", {"axis": 2, "intensity": 0.5, "period": 2}, "axis"),
        (
            "MR",
            "undersampling",
            {
                "axis": 0,
                "acceleration": 0.5,
                "center_fraction": 0.1,
                "pattern": "random",
                "seed": 0,
            },
            "acceleration",
        ),
        ("CT", "low_dose", {"I0": -5, "electronic_std": 5, "seed": 0}, "I0"),
        ("CT", "sparse_view", {"n_views": 2}, "n_views"),
        ("CT", "blur", {"fwhm_mm": -1}, "fwhm_mm"),
    ],
)
def test_invalid_parameters_name_the_parameter(modality, name, params, bad) -> None:
    img = _mr() if modality == "MR" else _ct()
    rec = DegradationRecord(modality, (name,), ("mild",), (params,), 0)
    with pytest.raises(ValueError, match=bad):
        apply_record(img, rec, (1.0, 1.0))


def test_bad_spacing_raises() -> None:
    with pytest.raises(ValueError, match="spacing"):
        apply_record(_mr(), sample_record("MR", 0, types="blur"), (1.0,))


def test_random_degradation_and_table() -> None:
    out, rec = RandomDegradation("CT", p_clean=0.0)(_ct(), (1.0, 1.0), seed=4)
    assert out.shape == (48, 48) and not rec.is_clean
    table = registry_table()
    assert all(name in table for _, name in REGISTRY)


class _DS(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> dict:
        return {"image": _mr()[None] * (1 + i)}


def test_transforms_in_compose_and_seeded_dataloader() -> None:
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose, EnsureTyped
    from monai.utils import set_determinism

    from napari_dcpt.degradations import Degrade, RandDegrade, RandDegraded

    # Array forms in Compose.
    rec = sample_record("MR", 3, types="spike")
    arr = Compose([Degrade(rec, spacing=(1.0, 1.0))])(_mr()[None])
    np.testing.assert_array_equal(arr[0], apply_record(_mr(), rec, (1.0, 1.0)))
    rd = RandDegrade("MR", p_clean=0.0)
    rd.set_random_state(5)
    a = rd(_mr()[None])
    rd.set_random_state(5)
    np.testing.assert_array_equal(a, rd(_mr()[None]))

    # Dict form through a 2-worker DataLoader, seeded twice -> identical batches.
    tf = Compose([EnsureTyped(keys="image"), RandDegraded(keys="image", modality="MR")])
    data = [{"image": _mr()[None] * (1 + i)} for i in range(6)]

    def run() -> list[dict]:
        set_determinism(seed=123)
        loader = DataLoader(Dataset(data, tf), batch_size=3, num_workers=2)
        return list(loader)

    b1, b2 = run(), run()
    set_determinism(None)
    for x, y in zip(b1, b2):
        assert torch.equal(x["image"], y["image"])
        assert torch.equal(x["label"], y["label"])
        assert x["record"] == y["record"]
    batch = b1[0]
    assert batch["label"].shape == (3, len(vocabulary("MR")))
    assert batch["severity"].dtype == torch.int64
    assert torch.equal(batch["clean"], torch.stack([torch.as_tensor(d["image"]) for d in data[:3]]))
    # The record string replays the degradation.
    r0 = DegradationRecord.from_json(batch["record"][0])
    again = apply_record(data[0]["image"][0], r0, (1.0, 1.0))
    np.testing.assert_allclose(batch["image"][0, 0].numpy(), again, atol=1e-4)
