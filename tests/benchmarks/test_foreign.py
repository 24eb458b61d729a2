"""The foreign-simulator benchmark: MONAI's and TorchIO's transforms are applied as stated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import common, foreign


def _volume(modality: str) -> common.TestVolume:
    rng = np.random.default_rng(0)
    if modality == "MR":
        clean = rng.uniform(50, 150, (8, 32, 32)).astype(np.float32)
        return common.TestVolume("v", "MR", clean, (3.0, 1.0, 1.0), np.eye(4))
    full = rng.uniform(-1000, 500, (4, 40, 40)).astype(np.float32)
    crop = (slice(4, 36), slice(4, 36))
    clean = np.ascontiguousarray(full[:, crop[0], crop[1]])
    return common.TestVolume("c", "CT", clean, (5.0, 0.7, 0.7), np.eye(4), full, crop)


@pytest.mark.parametrize("sim", foreign.simulators(), ids=lambda s: f"{s.modality} {s.name}")
def test_each_simulator_degrades_reproducibly(sim: foreign.Simulator) -> None:
    vol = _volume(sim.modality)
    a, b = foreign.degrade(vol, sim, 0), foreign.degrade(vol, sim, 0)
    assert a.shape == vol.clean.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # seeded: the same case every run
    assert not np.allclose(a, vol.clean, atol=1e-3)  # it did something
    assert sim.expected in {
        "rician_noise",
        "gibbs_ringing",
        "spike",
        "bias_field",
        "blur",
        "motion",
        "ghosting",
        "low_dose",
    }


def test_mr_parameters_are_relative_to_the_volume_scale() -> None:
    # the same relative noise on a volume 100x brighter: the same PSNR against its clean
    sim = next(s for s in foreign.simulators() if s.name == "monai RandRicianNoise")
    vol = _volume("MR")
    big = common.TestVolume("v", "MR", vol.clean * 100, vol.spacing, vol.affine)
    mask = np.ones(vol.clean.shape, bool)
    p1 = common.quality(vol, foreign.degrade(vol, sim, 1), mask)["psnr"]
    p2 = common.quality(big, foreign.degrade(big, sim, 1), mask)["psnr"]
    assert p1 == pytest.approx(p2, abs=0.05)


def test_summary_counts_cases() -> None:
    def row(sim: str, shipped: float, top1: str, verdict: str) -> dict[str, object]:
        return {
            "modality": "MR",
            "simulator": sim,
            "model": "m",
            "expected": "spike",
            "input_psnr": 30.0,
            "shipped_psnr": shipped,
            "full_psnr": shipped + 1,
            "strength": 0.5,
            "top1": top1,
            "verdict": verdict,
        }

    rows = [
        row("a", 31.0, "spike", "findings"),
        row("a", 29.5, "motion", "clean"),
        row("a", 30.5, "motion", "unclear"),
        row("b", 30.0, "spike", "findings"),
        row("c", 30.0, "spike", "findings"),
        row("c", 30.0, "motion", "findings"),
    ]
    a, b, c = foreign.summarise(rows)
    assert (a["n"], a["below_input"], a["top1_hits"]) == (3, 1, 1)
    assert (a["reported_clean"], a["unclear"]) == (1, 1)
    assert a["gain_shipped"] == pytest.approx(1.0 / 3)
    assert a["worst_shipped"] == pytest.approx(-0.5) and a["top1_most"] == "motion 2, spike 1"
    assert (b["n"], b["below_input"], b["top1_hits"]) == (1, 0, 1)
    assert c["top1_most"] == "spike 1, motion 1"  # ties in order of first sight, any hash seed


def test_whole_scan_is_degraded_then_cut_like_the_crop(tmp_path: Path) -> None:
    import nibabel as nib

    rng = np.random.default_rng(1)
    scan = rng.uniform(10, 100, (20, 40, 36)).astype(np.float32)  # (z, y, x)
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(scan.transpose(2, 1, 0), np.diag([1.0, 1.0, 2.0, 1.0])), path)
    vol = common.load_volume(path, "MR", "scan", slices=8, size=24)
    assert vol.source == path and vol.clean.shape == (8, 24, 24)
    slab = common.TestVolume("slab", "MR", vol.clean, vol.spacing, vol.affine)
    sims = {s.name: s for s in foreign.simulators() if s.modality == "MR"}
    # in-plane smoothing does not mix slices: the whole scan cut equals the crop degraded,
    # away from the crop's in-plane border (the whole scan has neighbours there)
    inplane = sims["monai GaussianSmooth"]
    a, b = foreign.degrade(vol, inplane, 0), foreign.degrade(slab, inplane, 0)
    np.testing.assert_allclose(a[:, 6:-6, 6:-6], b[:, 6:-6, 6:-6], rtol=1e-4)
    # 3-D k-space motion sees the slices beyond the crop: the two differ
    motion = sims["torchio RandomMotion"]
    assert not np.allclose(foreign.degrade(vol, motion, 0), foreign.degrade(slab, motion, 0))


def test_a_run_writes_a_row_per_case_and_model_and_their_summaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    sims = [
        s
        for s in foreign.simulators()
        if s.name in ("monai RandRicianNoise", "torchio RandomMotion")
    ]
    vol = _volume("MR")
    monkeypatch.setattr(common, "CACHE", tmp_path / "cache")  # the tiny models' folder
    monkeypatch.setattr(common, "heldout_volumes", lambda modality, quick=False: [vol])
    monkeypatch.setattr(foreign, "simulators", lambda: sims)
    foreign.main(["--modality", "MR", "--seeds", "2", "--tiny", "--out", str(tmp_path)])

    res = json.loads((tmp_path / "foreign.json").read_text())
    rows = res["rows"]
    assert len(rows) == 2 * 2 * 2  # simulators x seeds x (default, ablation)
    assert {r["model"] for r in rows} == {"napari-dcpt", "no-pretraining"}
    assert {r["verdict"] for r in rows} <= {"findings", "clean", "unclear"}
    assert all(0.0 <= r["strength"] <= 1.0 and np.isfinite(r["full_psnr"]) for r in rows)
    # seeded: the same case for both models
    by = {(r["simulator"], r["seed"], r["model"]): r["input_psnr"] for r in rows}
    assert all(by[(s, k, "napari-dcpt")] == by[(s, k, "no-pretraining")] for s, k, _ in by)
    assert len(res["summary"]) == 4 and len(res["totals"]) == 2
    assert (
        "| MR | torchio RandomMotion | napari-dcpt | motion | 2 |"
        in (tmp_path / "foreign.md").read_text()
    )
