"""The training recipe end to end on tiny synthetic NIfTI volumes (CPU, seconds)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml

from napari_dcpt.config import load_training_config, training_config_from_dict
from napari_dcpt.errors import DcptError

REPO = Path(__file__).parents[2]
TINY = REPO / "training" / "configs" / "tiny.yaml"
HERE = Path(__file__).parent


def _real_degradations_available() -> bool:
    try:
        import napari_dcpt.degradations as d
    except ImportError:
        return False
    return all(hasattr(d, n) for n in ("vocabulary", "sample_record", "apply_record"))


# Until the real simulators land, a tiny stand-in with the same API drives the pipeline.
DEG_MODULE = "napari_dcpt.degradations" if _real_degradations_available() else "fake_degradations"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NAPARI_DCPT_DEGRADATIONS"] = DEG_MODULE
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(autouse=True)
def _degradations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DCPT_DEGRADATIONS", DEG_MODULE)
    monkeypatch.syspath_prepend(str(HERE))
    torch.set_num_threads(1)


def _phantom(rng: np.random.Generator, radius: float) -> np.ndarray:
    z, y, x = np.mgrid[:6, :64, :64]
    inside = (x - 32) ** 2 + (y - 32) ** 2 < radius**2
    img = inside * (80 + 40 * np.sin(x / 4.0) * np.cos(y / 6.0) + rng.normal(0, 1, x.shape))
    return np.clip(img, 0, None).astype(np.float32)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate(["a.nii.gz", "b.nii.gz", "sub/c.nii.gz"]):
        arr = _phantom(rng, 18 + 4 * i)  # (z, y, x) -> NIfTI (i, j, k) = (x, y, z)
        nib.save(
            nib.Nifti1Image(arr.transpose(2, 1, 0), np.diag([1.0, 1.0, 3.0, 1.0])), root / name
        )
    (root / "broken.nii.gz").write_bytes(b"this is not an image")
    (root / "notes.txt").write_text("ignored")
    return root


def _config(data_dir: Path, tmp_path: Path, **stage: object) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"]["root"] = str(data_dir)
    for key, value in stage.items():
        part, field = key.split("__")
        cfg[part][field] = value
    out = tmp_path / "cfg.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_pretrain_then_finetune_losses_fall_and_export_loads(
    data_dir: Path, tmp_path: Path
) -> None:
    from napari_dcpt.models import load_weights
    from training.engine import load_checkpoint, train, unwrap_state
    from training.export import export

    cfg_path = _config(
        data_dir,
        tmp_path,
        pretrain__val_every=10,
        finetune__val_every=10,
        finetune__restoration_loss="psnr",  # pre-training keeps L1: both losses run
    )
    cfg = load_training_config(cfg_path)
    t0 = time.perf_counter()

    rc1 = train(cfg, "pretrain", tmp_path / "pre", threads=1)
    rc2 = train(cfg, "finetune", tmp_path / "ft", init=tmp_path / "pre" / "last.pt", threads=1)
    elapsed = time.perf_counter() - t0

    assert rc1 == rc2 == 0
    assert elapsed < 60
    pre, ft = _metrics(tmp_path / "pre"), _metrics(tmp_path / "ft")
    assert [m["step"] for m in pre] == [10, 20, 30, 40]
    assert pre[-1]["train_loss"] < pre[0]["train_loss"]
    assert pre[-1]["train_focal"] < pre[0]["train_focal"]
    assert ft[-1]["train_psnr"] < ft[0]["train_psnr"]
    assert ft[-1]["train_l1"] < ft[0]["train_l1"]
    assert "train_psnr" not in pre[-1]
    # the resolved config and the data split sit beside the checkpoint
    assert yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())["stage"] == "finetune"
    info = json.loads((tmp_path / "ft" / "data.json").read_text())
    assert [s["path"].endswith("broken.nii.gz") for s in info["skipped"]] == [True]

    # export: EMA weights; the file alone rebuilds a network with identical outputs
    ckpt = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert ckpt["step"] == 40 and ckpt["ema"] is not None
    out = export(tmp_path / "ft" / "last.pt", tmp_path / "m.safetensors")
    model, mcfg, vocab = load_weights(out)
    from napari_dcpt.models import build_model

    ref = build_model(mcfg, len(vocab)).eval()
    ref.load_state_dict(unwrap_state(ckpt))
    x = torch.rand(3, 1, 45, 52, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for a, b in zip(ref(x, return_aux=True), model(x, return_aux=True)):
            assert torch.equal(a, b)


def test_unreadable_file_is_listed_and_skipped(data_dir: Path, tmp_path: Path) -> None:
    from training.data import build_manifest

    manifest = build_manifest(data_dir, tmp_path / "cache")
    again = build_manifest(data_dir, tmp_path / "cache")  # served from the cache

    keys = sorted(it["key"] for it in manifest["items"])
    assert keys == ["a.nii.gz", "b.nii.gz", "sub/c.nii.gz"]
    assert len(manifest["skipped"]) == 1
    assert manifest["skipped"][0]["path"].endswith("broken.nii.gz")
    assert manifest["skipped"][0]["reason"]
    assert again == manifest
    assert (tmp_path / "cache" / "manifest.json").is_file()


def test_a_series_whose_header_names_another_modality_is_not_trained_on(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.data import build_manifest, split_items

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "io"))
    from dicom_phantom import write_series

    # Arrange: a radiograph series (MR-like intensities) among the MR files
    arr = np.random.default_rng(2).integers(0, 900, (3, 40, 44)).astype(np.int16)
    write_series(data_dir / "xray", arr, np.diag([2.0, 0.5, 0.5, 1.0]), modality="CR")
    # Act
    items = build_manifest(data_dir, tmp_path / "cache")["items"]
    train, val = split_items(items, training_config_from_dict({}).data)
    # Assert
    modality = {it["key"].split("#")[0]: it["modality"] for it in items}
    assert modality["xray"] == "CR"
    assert not [it for it in train + val if it["key"].startswith("xray")]
    assert len(train) + len(val) == 3


def test_a_root_without_the_modality_says_what_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.engine import build_data, setup_distributed

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "io"))
    from dicom_phantom import write_series

    arr = np.random.default_rng(2).integers(0, 900, (3, 40, 44)).astype(np.int16)
    write_series(tmp_path / "data" / "xray", arr, np.diag([2.0, 0.5, 0.5, 1.0]), modality="CR")
    cfg = training_config_from_dict({"data": {"root": str(tmp_path / "data")}})
    with pytest.raises(
        SystemExit, match=r"no training volumes of modality MR .* \(it holds 1 CR\)"
    ):
        build_data(cfg, tmp_path / "run", setup_distributed("cpu"))


def test_split_is_by_series_and_honours_explicit_lists() -> None:
    from training.data import split_items

    items = [{"key": f"p{i}/scan.nii.gz", "modality": "MR"} for i in range(200)]
    items.append({"key": "ct.nii.gz", "modality": "CT"})
    cfg = training_config_from_dict({"data": {"val_fraction": 0.25, "split_seed": 3}}).data

    train, val = split_items(items, cfg)
    train2, val2 = split_items(list(reversed(items)), cfg)

    assert len(train) + len(val) == 200  # the CT item is filtered out
    assert 30 < len(val) < 70  # ~50 expected; binomial sd ~6
    assert {i["key"] for i in val} == {i["key"] for i in val2}
    explicit = cfg.model_copy(update={"val_files": ("p1/*",), "train_files": ("p2/*", "p3/*")})
    t, v = split_items(items, explicit)
    assert [i["key"] for i in v] == ["p1/scan.nii.gz"]
    assert [i["key"] for i in t] == ["p2/scan.nii.gz", "p3/scan.nii.gz"]
    typo = cfg.model_copy(update={"val_files": ("p1/*", "p1/scan.nrrd")})
    with pytest.raises(ValueError, match=r"data.val_files: 'p1/scan.nrrd' matches no MR series"):
        split_items(items, typo)
    ct_only = cfg.model_copy(update={"train_files": ("ct.nii.gz",)})  # another modality
    with pytest.raises(ValueError, match="data.train_files"):
        split_items(items, ct_only)


@pytest.mark.parametrize("augment", [False, True])
def test_patch_samples_are_deterministic_and_on_foreground(
    data_dir: Path, tmp_path: Path, augment: bool
) -> None:
    from training.data import PatchDataset, build_manifest, degradations, load_volumes

    cfg = load_training_config(_config(data_dir, tmp_path))
    items = build_manifest(data_dir, tmp_path / "cache")["items"]
    vols = load_volumes(items, cfg.data)
    vocab = degradations().vocabulary("MR")
    ds = PatchDataset(vols, cfg, cfg.finetune.degradations, vocab, seed=5, augment=augment)

    a, b, c = ds[17], ds[17], ds[18]
    plain = PatchDataset(vols, cfg, cfg.finetune.degradations, vocab, seed=5)[17]

    assert a["degraded"].shape == (4, 1, 32, 32) and a["label"].shape == (4, len(vocab))
    for k in a:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["clean"], c["clean"])
    assert torch.equal(a["clean"], plain["clean"]) is not augment
    # patches are centred on foreground: their centre pixel is bright
    assert (a["clean"][:, 0, 16, 16] > cfg.data.foreground_threshold).all()


def _volume(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> dict:
    arr = np.random.default_rng(1).random(shape, dtype=np.float32)
    fg = tuple(np.ones(n) for n in shape)
    return {"key": "v", "image": arr, "spacing": spacing, "fg_axes": fg}


def test_views_cover_axes_turns_zoom_and_keep_the_spacing_consistent() -> None:
    from training.data import GAMMA_RANGE, MIN_ZOOMED, View, apply_view, draw_view, viewed_spacing

    d = training_config_from_dict({"data": {"max_zoom_out": 2.0}}).data
    rng = np.random.default_rng(0)
    iso, aniso = _volume((40, 150, 130), (1.0, 1.0, 1.0)), _volume((12, 150, 130), (3.0, 1, 1))
    views = [draw_view(iso, d, rng) for _ in range(300)]

    assert {v.axis for v in views} == {0, 1, 2}
    assert {v.turns for v in views} == {0, 1, 2, 3}
    assert {v.axis for v in (draw_view(aniso, d, rng) for _ in range(100))} == {0}
    assert all(GAMMA_RANGE[0] <= v.gamma <= GAMMA_RANGE[1] for v in views)
    ct = d.model_copy(update={"modality": "CT"})
    assert {draw_view(iso, ct, rng).gamma for _ in range(20)} == {1.0}
    plane = {0: (150, 130), 1: (40, 130), 2: (40, 150)}
    zoomed = [v for v in views if v.size != plane[v.axis]]
    # about half the axis-0 views zoom out; a 40 px side is never shrunk below 64 px
    assert len(zoomed) > 25 and all(v.axis == 0 and min(v.size) >= MIN_ZOOMED for v in zoomed)

    block = iso["image"][:3]
    turned = apply_view(block, View(0, (150, 130), turns=1, flips=(True, False)))
    assert turned.shape == (3, 130, 150)
    assert np.array_equal(np.sort(turned, axis=None), np.sort(block, axis=None))
    half = apply_view(block, View(0, (75, 65)))  # area averaging keeps the mean
    assert half.shape == (3, 75, 65) and abs(half.mean() - block.mean()) < 1e-3
    assert viewed_spacing((1.0, 0.5, 0.8), View(0, (75, 65)), (3, 150, 130)) == (1.0, 1.0, 1.6)
    assert viewed_spacing((1.0, 0.5, 0.8), View(0, (75, 65), turns=3), (3, 150, 130)) == (
        1.0,
        1.6,
        1.0,
    )
    assert viewed_spacing((3.0, 1.0, 2.0), View(2, (12, 150)), (12, 150, 130))[0] == 2.0
    assert View(0, (300, 100), turns=1).shape(256) == (100, 256)


def test_whole_slice_batches_are_deterministic_one_size_and_within_bounds(
    data_dir: Path, tmp_path: Path
) -> None:
    from training.data import SliceBatchDataset, build_manifest, degradations, load_volumes

    cfg = load_training_config(_config(data_dir, tmp_path))
    items = build_manifest(data_dir, tmp_path / "cache")["items"]
    vols = load_volumes(items, cfg.data)
    vocab = degradations().vocabulary("MR")
    ds = SliceBatchDataset(vols, cfg, cfg.head.degradations, vocab, 5, 3, 20, 50)

    a, b = ds[4], ds[4]
    sizes = {tuple(ds[i]["degraded"].shape) for i in range(12)}

    for k in a:
        assert torch.equal(a[k], b[k])
    assert a["label"].shape == (3, len(vocab)) and a["severity"].shape == (3, len(vocab))
    assert a["clean"].shape == a["degraded"].shape
    assert all(s[:2] == (3, 1) and 20 <= s[2] <= 50 and 20 <= s[3] <= 50 for s in sizes)
    assert len(sizes) > 3  # the crop size varies from batch to batch
    aug = SliceBatchDataset(vols, cfg, cfg.head.degradations, vocab, 5, 3, 20, 50, augment=True)
    shapes = [tuple(aug[i]["degraded"].shape) for i in range(12)]
    assert all(s[:2] == (3, 1) and 20 <= s[2] <= 50 and 20 <= s[3] <= 50 for s in shapes)
    assert torch.equal(aug[4]["clean"], aug[4]["clean"])
    three_d = cfg.model.model_copy(
        update={"spatial_dims": 3, "enc_blocks": (1,), "dec_blocks": (1,)}
    )
    with pytest.raises(ValueError, match="needs a 2-D model"):
        SliceBatchDataset(
            vols,
            cfg.model_copy(update={"model": three_d}),
            cfg.head.degradations,
            vocab,
            5,
            3,
            20,
            50,
        )


def test_head_refit_keeps_the_backbone_and_a_weights_file_starts_finetuning(
    data_dir: Path, tmp_path: Path
) -> None:
    from napari_dcpt.models import load_weights
    from training.engine import train
    from training.export import export

    base = load_training_config(_config(data_dir, tmp_path, finetune__steps=10))
    assert train(base, "finetune", tmp_path / "ft", threads=1) == 0
    weights = export(tmp_path / "ft" / "last.pt", tmp_path / "ft.safetensors")
    raw = yaml.safe_load(_config(data_dir, tmp_path).read_text())
    raw["model"]["classifier"]["kspace"] = True
    raw["data"]["augment"] = True  # the training loop's augmented path, end to end
    raw["head"] = {
        "steps": 20,
        "val_every": 10,
        "val_samples": 16,
        "checkpoint_every": 10,
        "min_size": 32,
        "max_size": 64,
        "ema_decay": 0.0,
    }
    cfg = training_config_from_dict(raw)

    with pytest.raises(SystemExit, match="--init is required"):
        train(cfg, "head", tmp_path / "none", threads=1)
    assert train(cfg, "head", tmp_path / "head", init=weights, threads=1) == 0
    out = export(tmp_path / "head" / "last.pt", tmp_path / "head.safetensors")

    before, _, _ = load_weights(weights)
    after, after_cfg, _ = load_weights(out)
    old, new = before.state_dict(), after.state_dict()
    assert after_cfg.classifier.kspace
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("backbone."))
    assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("classifier."))
    assert new["classifier.kspace_fc.weight"].abs().sum() > 0  # the branch learnt something
    steps = [m["step"] for m in _metrics(tmp_path / "head")]
    assert steps == [10, 20]
    # an init with another vocabulary or network is refused in one line
    other = training_config_from_dict({**raw, "model": {**raw["model"], "width": 12}})
    with pytest.raises(SystemExit, match="does not fit the configured model"):
        train(other, "head", tmp_path / "bad", init=weights, threads=1)
    # a weights file (a shipped default) is a fine-tuning start too, tensor for tensor
    from napari_dcpt.models.dcpt import build_model
    from training.data import degradations
    from training.engine import load_init

    vocab = tuple(degradations().vocabulary("MR"))
    model = build_model(after_cfg, len(vocab))
    load_init(model, out, vocab)
    assert all(torch.equal(v, new[k]) for k, v in model.state_dict().items())
    raw["finetune"] = {**raw["finetune"], "steps": 2, "val_every": 2, "checkpoint_every": 2}
    ft = training_config_from_dict(raw)
    assert train(ft, "finetune", tmp_path / "ft_from_weights", init=out, threads=1) == 0


def _run_cli(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()[1][-2000:]}")
        if time.time() > end:
            proc.kill()
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.1)


def test_kill_9_then_resume_reaches_the_same_final_step(data_dir: Path, tmp_path: Path) -> None:
    from training.engine import load_checkpoint

    cfg = _config(
        data_dir,
        tmp_path,
        pretrain__steps=150,
        pretrain__checkpoint_every=10,
        pretrain__val_every=1000,
    )
    run = tmp_path / "run"
    args = ["pretrain", "--config", str(cfg), "--run-dir", str(run), "--threads", "1"]
    proc = _run_cli(args)
    _wait_for(run / "last.pt", proc)

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(run / "last.pt")["step"]
    resumed = _run_cli([*args, "--resume"])
    _, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, err[-2000:]
    assert 0 < killed_at < 150
    assert f"at step {killed_at}/150" in err
    final = load_checkpoint(run / "last.pt")
    assert final["step"] == 150
    assert final["scheduler"]["last_epoch"] == 150
    assert not list(run.glob("*.tmp*"))


def test_sigint_saves_and_exits_cleanly(data_dir: Path, tmp_path: Path) -> None:
    from training.engine import load_checkpoint

    cfg = _config(
        data_dir,
        tmp_path,
        pretrain__steps=2000,
        pretrain__checkpoint_every=10,
        pretrain__val_every=1000,
    )
    run = tmp_path / "run"
    proc = _run_cli(["pretrain", "--config", str(cfg), "--run-dir", str(run), "--threads", "1"])
    _wait_for(run / "last.pt", proc)

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err[-2000:]
    assert "interrupted at step" in err
    step = load_checkpoint(run / "last.pt")["step"]
    assert 10 <= step < 2000


@pytest.mark.slow
def test_torchrun_two_cpu_processes_write_one_checkpoint(data_dir: Path, tmp_path: Path) -> None:
    from training.engine import load_checkpoint

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    cfg = _config(
        data_dir, tmp_path, pretrain__steps=6, pretrain__checkpoint_every=3, pretrain__val_every=3
    )
    run = tmp_path / "run"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "training",
        "pretrain",
        "--config",
        str(cfg),
        "--run-dir",
        str(run),
        "--threads",
        "1",
        "--device",
        "cpu",
    ]

    res = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=240)

    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in run.glob("*.pt")) == ["last.pt"]
    assert load_checkpoint(run / "last.pt")["step"] == 6
    assert [m["step"] for m in _metrics(run)] == [3, 6]  # rank 0 only


def test_warmup_ema_follows_early_steps_then_reaches_the_full_decay() -> None:
    from torch.optim.swa_utils import AveragedModel

    from training.engine import warmup_ema

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = AveragedModel(model, multi_avg_fn=warmup_ema(0.999), use_buffers=True)
    ema.update_parameters(model)  # the first call copies the weights
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update_parameters(model)  # n = 1: decay (1 + 1) / (10 + 1)
    assert ema.module.weight.item() == pytest.approx(1 - 2 / 11)
    for _ in range(600):
        ema.update_parameters(model)
    # a fixed 0.999 decay would still hold ~55 % of the initial zero here
    assert ema.module.weight.item() > 0.99


def test_psnr_loss_is_minus_a_tenth_of_the_mean_psnr_and_weights_samples_by_their_error() -> None:
    from training.engine import psnr_loss

    target = torch.zeros(2, 1, 8, 8)
    restored = target.clone()
    restored[0] += 0.1  # 20 dB
    restored[1] += 0.01  # 40 dB
    expected = np.mean([np.log10(1e-2 + 1e-4), np.log10(1e-4 + 1e-4)])
    restored.requires_grad_(True)
    loss = psnr_loss(restored, target)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # on a log scale the small error pulls harder per pixel than the large one
    g = restored.grad.abs().flatten(1).mean(1)
    assert g[1] > 4 * g[0]


def test_a_higher_psnr_floor_keeps_pushing_a_near_clean_sample() -> None:
    from training.engine import psnr_loss

    target = torch.zeros(1, 1, 8, 8)
    near_clean = (target + 0.01).requires_grad_(True)  # 40 dB: at the default floor
    psnr_loss(near_clean, target).backward()
    at_40 = near_clean.grad.abs().mean().item()
    near_clean.grad = None
    loss = psnr_loss(near_clean, target, floor_db=50.0)
    assert loss.item() == pytest.approx(np.log10(1e-4 + 1e-5), rel=1e-5)
    loss.backward()
    # d/dmse log10(mse + floor) = 1 / (ln10 (mse + floor)): 2e-4 -> 1.1e-4
    assert near_clean.grad.abs().mean().item() == pytest.approx(at_40 * 2e-4 / 1.1e-4, rel=1e-4)


def test_loaded_volumes_are_cached_not_reread(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import napari_dcpt.io as nio
    from training.data import build_manifest, load_volumes

    cfg = load_training_config(_config(data_dir, tmp_path))
    items = build_manifest(data_dir, tmp_path / "cache")["items"]
    calls: list[str] = []
    real_read = nio.read

    def counting_read(path, *args, **kwargs):
        calls.append(str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(nio, "read", counting_read)
    volumes = load_volumes(items, cfg.data)
    assert len(calls) == len(items)  # each volume read once, when the cache is filled
    for _ in range(3):
        for i in range(len(volumes)):
            assert volumes[i]["image"].ndim == 3
    assert len(calls) == len(items)  # sampling never goes back to the disk


def test_a_single_slice_init_is_inflated_to_a_2_5d_network_that_computes_the_same(
    tmp_path: Path,
) -> None:
    from napari_dcpt.config import ModelConfig
    from napari_dcpt.models.dcpt import build_model
    from training.engine import inflate_intro, load_init

    torch.manual_seed(0)
    one = build_model(ModelConfig(width=8), n_classes=3).eval()
    three = build_model(ModelConfig(width=8, in_slices=3), n_classes=3).eval()
    state = inflate_intro(one.state_dict(), three)
    three.load_state_dict(state)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        # the neighbours are ignored until fine-tuning teaches the net to use them
        assert torch.allclose(three(x), one(x[:, 1:2]), atol=1e-6)
    # and the other way round (a 2.5-D init for a single-slice net) is refused
    torch.save({"vocabulary": ["clean", "a", "b"], "model": three.state_dict()}, tmp_path / "w.pt")
    with pytest.raises(SystemExit, match="does not fit the configured model"):
        load_init(one, tmp_path / "w.pt", ("clean", "a", "b"))


def test_evaluate_tables_a_2_5d_weights_file_on_a_single_slice_configs_data(
    data_dir: Path, tmp_path: Path
) -> None:
    from napari_dcpt.models import SEVERITY_NAMES
    from training.data import degradations
    from training.engine import train
    from training.evaluate import evaluate
    from training.export import export

    one = _config(data_dir, tmp_path, finetune__steps=2, finetune__val_every=2)
    raw = yaml.safe_load(one.read_text())
    raw["model"]["in_slices"] = 3
    assert train(load_training_config(one), "finetune", tmp_path / "ft1", threads=1) == 0
    single = export(tmp_path / "ft1" / "last.pt", tmp_path / "one.safetensors")
    # the single-slice export starts a 2.5-D fine-tuning (inflated first conv) ...
    wide_cfg = training_config_from_dict(raw)
    assert train(wide_cfg, "finetune", tmp_path / "ft3", init=single, threads=1) == 0
    wide = export(tmp_path / "ft3" / "last.pt", tmp_path / "wide.safetensors")
    # ... whose weights file is evaluated with the single-slice config's data section
    result = evaluate(wide, tmp_path / "eval", config=one, samples=2)
    vocab = result["vocabulary"]
    kinds = degradations().SEVERITIES
    assert [(r["condition"], r["severity"]) for r in result["rows"]] == [
        ("clean", None),
        *((t, s) for t in vocab[1:] for s in kinds),
        ("mixed", None),
    ]
    assert all(np.isfinite(r["psnr_restored"]) and r["n"] == 2 for r in result["rows"])
    confusion = np.asarray(result["confusion"])
    assert confusion.shape == (len(vocab),) * 2
    assert confusion.sum() == 2 * (1 + len(kinds) * (len(vocab) - 1))  # every single-type sample
    assert result["severities"] == list(SEVERITY_NAMES)
    assert (tmp_path / "eval" / "eval.md").read_text().count("\n") == len(result["rows"]) + 2


def test_until_stops_checkpointed_and_resume_goes_on_with_the_same_schedule(
    data_dir: Path, tmp_path: Path
) -> None:
    from training.engine import load_checkpoint, train

    cfg = load_training_config(
        _config(data_dir, tmp_path, pretrain__val_every=10, pretrain__checkpoint_every=10)
    )
    run = tmp_path / "run"

    assert train(cfg, "pretrain", run, threads=1, until=25) == 0
    stopped = load_checkpoint(run / "last.pt")
    assert stopped["step"] == 25 and stopped["total_steps"] == 40
    assert [m["step"] for m in _metrics(run)] == [10, 20, 25]  # validated where it stopped
    # a second call with the same stop has nothing to do and keeps the checkpoint
    assert train(cfg, "pretrain", run, threads=1, resume=True, until=25) == 0
    assert load_checkpoint(run / "last.pt")["step"] == 25

    assert train(cfg, "pretrain", run, threads=1, resume=True) == 0
    final = load_checkpoint(run / "last.pt")
    assert final["step"] == 40 and final["scheduler"]["last_epoch"] == 40
    assert [m["step"] for m in _metrics(run)] == [10, 20, 25, 30, 40]
    with pytest.raises(ValueError, match="positive"):
        train(cfg, "pretrain", run, threads=1, until=0)


def test_resume_on_another_machine_takes_its_data_root_and_workers_and_the_same_samples(
    data_dir: Path, tmp_path: Path
) -> None:
    """A run stopped here goes on where the data live elsewhere and the loader has more
    workers (`--data-root`, `--workers` with `--resume`), and trains on exactly the
    samples an uninterrupted run would have: its weights match one to the last bit."""
    from training.engine import load_checkpoint, train

    cfg = load_training_config(_config(data_dir, tmp_path))
    straight, moved = tmp_path / "straight", tmp_path / "moved"
    assert train(cfg, "pretrain", straight, threads=1, until=12) == 0

    assert train(cfg, "pretrain", moved, threads=1, until=6) == 0
    elsewhere = data_dir.rename(tmp_path / "elsewhere")
    with pytest.raises(DcptError):  # the embedded root is gone: the override is needed
        train(cfg, "pretrain", moved, threads=1, resume=True, until=12)
    assert (
        train(
            cfg, "pretrain", moved, threads=1, resume=True, until=12, data_root=elsewhere, workers=1
        )
        == 0
    )
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(moved / "last.pt")
    assert b["step"] == 12 and b["total_steps"] == a["total_steps"]
    assert b["config"]["data"]["root"] == str(elsewhere)
    assert b["config"]["data"]["num_workers"] == 1
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    with pytest.raises(ValueError, match="num_workers"):
        train(cfg, "pretrain", moved, threads=1, resume=True, workers=-1)
