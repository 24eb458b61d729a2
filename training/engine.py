"""The training loop shared by `pretrain`, `finetune` and `ablation` (single process or DDP).

Fault handling: checkpoints are atomic (temporary file + ``os.replace``) every
``checkpoint_every`` steps and on exit; ``--resume`` restores model, optimiser,
scheduler, EMA, step and RNG state; a non-finite loss stops the run keeping the
last good checkpoint; SIGINT/SIGTERM save and exit cleanly.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from napari_dcpt.config import HeadStageConfig, StageConfig, TrainingConfig
from napari_dcpt.models.dcpt import DCPTNet, build_model
from training import data as tdata

CHECKPOINT = "last.pt"
EXIT_OK, EXIT_NONFINITE, EXIT_INTERRUPTED = 0, 3, 0
VAL_SEED_OFFSET = 1_000_003  # validation samples never share seeds with training ones
STAGES = ("pretrain", "finetune", "ablation", "head")


@dataclass
class Dist:
    """Process-group facts (a single process is rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> Dist:
    """Join the torchrun process group when launched by torchrun (gloo on CPU, NCCL on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(
        rank=dist.get_rank(),
        world=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
    )


def resolve_device(requested: str, dist: Dist | None = None) -> str:
    """``auto`` -> ``cuda:<local rank>`` when CUDA is present, else ``cpu``."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available")
        return f"cuda:{dist.local_rank if dist else 0}"
    return requested


def default_threads(num_workers: int, local_world: int = 1) -> int:
    """Cores actually free to this process: affinity minus data workers, split per rank."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, (cores - num_workers) // max(1, local_world))


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary sibling, then rename (a crash never leaves half a file)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict:
    """Load a training checkpoint without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


def unwrap_state(ckpt: dict, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The network state dict of a checkpoint (the EMA copy when present and wanted)."""
    ema = ckpt.get("ema")
    if prefer_ema and ema:
        return {k[len("module.") :]: v for k, v in ema.items() if k.startswith("module.")}
    return ckpt["model"]


def load_init(model: DCPTNet, init: str | os.PathLike[str], vocab: tuple[str, ...]) -> None:
    """Load the network that fine-tuning or the head refit starts from into ``model``.

    ``init`` is a training checkpoint (its EMA copy when present) or a weights file,
    such as a shipped default to fine-tune on a hospital's own scans. Every tensor of
    ``init`` must fit; only the k-space branch, when ``model`` has one and ``init``
    does not, may be missing (it starts at zero logits).

    Raises
    ------
    SystemExit
        One line naming ``init`` and what does not fit.
    """
    if Path(init).suffix == ".safetensors":
        from napari_dcpt.models.weights import load_weights

        net, _, init_vocab = load_weights(init)
        state = net.state_dict()
    else:
        init_ckpt = load_checkpoint(init)
        init_vocab, state = tuple(init_ckpt["vocabulary"]), unwrap_state(init_ckpt)
    if tuple(init_vocab) != vocab:
        raise SystemExit(f"{init}: vocabulary {list(init_vocab)} differs from {list(vocab)}")
    state = inflate_intro(state, model)
    try:
        res = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch: another backbone
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise SystemExit(f"{init}: does not fit the configured model ({first})") from None
    missing = [k for k in res.missing_keys if not k.startswith("classifier.kspace")]
    if missing or res.unexpected_keys:
        raise SystemExit(
            f"{init}: does not fit the configured model (missing {missing[:3]}, "
            f"unexpected {res.unexpected_keys[:3]})"
        )


def inflate_intro(state: dict[str, torch.Tensor], model: DCPTNet) -> dict[str, torch.Tensor]:
    """Widen a single-slice network's first conv to ``model``'s 2.5-D input.

    The single-slice kernel goes to the centre input channel and the neighbours'
    kernels start at zero, so the widened network computes exactly what the
    single-slice one did and fine-tuning learns what the neighbouring slices add
    (noise is independent between slices; anatomy mostly is not). This is the
    weight-inflation idea of I3D (Carreira & Zisserman, 2017) with a centre-only
    initialisation; no library offers it for a state dict, hence these lines. Any
    other shape mismatch is left for ``load_state_dict`` to report.
    """
    key = "backbone.intro.weight"
    if key not in state or model.config.spatial_dims != 2:
        return state
    src, want = state[key], model.backbone.intro.weight
    if src.shape[1] != 1 or want.shape[1] == 1 or src.shape[2:] != want.shape[2:]:
        return state
    wide = torch.zeros(
        (src.shape[0], want.shape[1], *src.shape[2:]), dtype=src.dtype, device=src.device
    )
    wide[:, want.shape[1] // 2] = src[:, 0]
    return {**state, key: wide}


def warmup_ema(decay: float) -> Any:
    """An ``AveragedModel`` ``multi_avg_fn``: EMA whose decay ramps up as ``(1+n)/(10+n)``.

    A plain EMA of decay 0.999 still holds ~55 % of the initial weights after 600
    steps (the first shipped MR model was mostly its initialisation); the ramp (as in
    TensorFlow's ``ExponentialMovingAverage(num_updates=...)``, which PyTorch lacks)
    makes the average follow the early steps and reach the full decay later.
    Integer buffers (BatchNorm's step count) are copied, not averaged.
    """

    @torch.no_grad()
    def update(ema: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        if ema and (ema[0].is_floating_point() or ema[0].is_complex()):
            torch._foreach_lerp_(ema, current, 1.0 - d)
        else:
            for e, c in zip(ema, current):
                e.copy_(c)

    return update


def _make_scheduler(opt: torch.optim.Optimizer, sc: StageConfig, total: int) -> Any:
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    warm = min(sc.warmup_steps, max(0, total - 1))
    cosine = CosineAnnealingLR(opt, T_max=max(1, total - warm), eta_min=0.0)
    if warm == 0:
        return cosine
    linear = LinearLR(opt, start_factor=1e-3, total_iters=warm)
    return SequentialLR(opt, [linear, cosine], milestones=[warm])


def _rng_state() -> dict:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Stop:
    """SIGINT/SIGTERM set a flag; the loop saves and leaves at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C means: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# the keys of `_losses` written to metrics.jsonl and TensorBoard, when present
LOGGED_LOSSES = ("loss", "l1", "psnr", "focal", "severity")


def psnr_loss(restored: torch.Tensor, target: torch.Tensor, floor_db: float = 40.0) -> torch.Tensor:
    """Mean over samples of ``log10(MSE_i + 10**(-floor_db/10))``: minus a tenth of the mean PSNR.

    An L1 (or MSE) over the batch is dominated by the samples with large errors (noise,
    spike), so types whose errors are small in absolute terms (blur, Gibbs ringing, bias
    field) barely move the network; on a log scale a 0.1 dB gain counts the same on
    every sample (the PSNR loss of NAFNet, Chen et al. 2022). The floor (the default
    40 dB is the do-no-harm bar of a clean input) stops a clean sample that already
    comes back above it from dominating the batch; it also stops pushing inputs that
    are already near it (a mild ring or bias field). MONAI has no per-sample PSNR
    loss, hence these lines.
    """
    mse = (restored.float() - target.float()).square().flatten(1).mean(1)
    return torch.log10(mse + 10.0 ** (-floor_db / 10.0)).mean()


def _losses(
    stage: str,
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    sc: StageConfig,
    focal: torch.nn.Module,
    centre: int,
) -> dict[str, torch.Tensor]:
    """The stage's losses for one batch (one forward pass, one graph)."""
    clean, degraded = batch["clean"], batch["degraded"]
    target = clean[:, centre : centre + 1]
    if stage == "pretrain":
        # DCPT stage 1: the clean pass (L1 to itself) and the degraded pass (features
        # -> classifier) in ONE forward over the concatenated batch: exactly the two
        # passes of the paper (no batch statistics couple the halves), and DDP sees
        # one forward per backward.
        b = clean.shape[0]
        restored, logits, sev = model(torch.cat([clean, degraded]), return_aux=True, aux_start=b)
        restored = restored[:b]
    else:
        restored, logits, sev = model(degraded, return_aux=True)
    out = {"l1": F.l1_loss(restored, target), "focal": focal(logits, batch["label"])}
    rest = out["l1"]
    if sc.restoration_loss == "psnr":
        out["psnr"] = rest = psnr_loss(restored, target, sc.psnr_floor_db)
    # the head refit trains the classifier alone: the frozen backbone's loss is reported
    total = (0.0 if stage == "head" else rest) + sc.cls_weight * out["focal"]
    if sev is not None:
        out["severity"] = F.cross_entropy(sev.permute(0, 2, 1), batch["severity"])
        total = total + sc.severity_weight * out["severity"]
    out["loss"] = total
    out["_logits"] = logits.detach()
    return out


@torch.no_grad()
def validate(
    model: DCPTNet, samples: list[dict[str, torch.Tensor]], vocab: tuple[str, ...], device: str
) -> dict[str, Any]:
    """PSNR (dB, data range 1) and classification accuracy on fixed validation batches.

    PSNR is averaged over degraded inputs only (a clean input has infinite PSNR
    before restoration); ``psnr_clean_restored`` says whether clean inputs are harmed.
    """
    from monai.metrics import PSNRMetric

    model.eval()
    psnr = PSNRMetric(max_val=1.0, reduction="none")
    rest, degr, cln = [], [], []
    correct = np.zeros(len(vocab))
    exact = n = 0
    for batch in samples:
        clean = batch["clean"].to(device)
        deg = batch["degraded"].to(device)
        c = clean.shape[1] // 2 if model.config.spatial_dims == 2 else 0
        target = clean[:, c : c + 1]
        restored, logits, _ = model(deg, return_aux=True)
        is_clean = (batch["label"][:, 0] > 0.5).numpy() if vocab[0] == "clean" else None
        pr = psnr(restored.clamp(0, 1.5), target).flatten().cpu().numpy()
        pd = psnr(deg[:, c : c + 1], target).flatten().cpu().numpy()
        keep = ~is_clean if is_clean is not None else np.ones(pr.shape, bool)
        rest += pr[keep].tolist()
        degr += pd[keep].tolist()
        cln += pr[~keep].tolist()
        pred = (torch.sigmoid(logits) > 0.5).cpu().numpy()
        lab = batch["label"].numpy() > 0.5
        correct += (pred == lab).sum(0)
        exact += int((pred == lab).all(1).sum())
        n += lab.shape[0]
    model.train()

    def mean(v: list[float]) -> float | None:
        return float(np.mean(v)) if v else None

    return {
        "psnr_restored": mean(rest),
        "psnr_degraded": mean(degr),
        "psnr_clean_restored": mean(cln),
        "acc_exact": exact / max(n, 1),
        "acc_type": {v: float(correct[i] / max(n, 1)) for i, v in enumerate(vocab)},
    }


def build_data(
    cfg: TrainingConfig, run_dir: Path, dist: Dist
) -> tuple[Any, Any, tuple[str, ...], dict]:
    """Manifest (rank 0 builds, others read the cache), split, cached volumes, vocabulary."""
    d = cfg.data
    cache_dir = Path(d.cache_dir) if d.cache_dir else run_dir / "cache"
    if dist.main:
        manifest = tdata.build_manifest(d.root, cache_dir)
    if dist.world > 1:
        torch.distributed.barrier()
    if not dist.main:
        manifest = json.loads((cache_dir / "manifest.json").read_text())
    try:
        train_items, val_items = tdata.split_items(manifest["items"], d)
    except ValueError as e:
        raise SystemExit(f"{d.root}: {e}") from None
    if not train_items:
        others = Counter(it["modality"] for it in manifest["items"])
        others.pop(d.modality, None)
        found = ", ".join(f"{n} {m}" for m, n in sorted(others.items()))
        unread = len(manifest["skipped"])
        raise SystemExit(
            f"no training volumes of modality {d.modality} under {d.root}"
            + (f" (it holds {found})" if found else "")
            + (f"; {unread} unreadable, see {cache_dir / 'manifest.json'}" if unread else "")
        )
    if not val_items:  # too few volumes for a held-out split: validate on training ones
        val_items = train_items[:1]
    vocab = tuple(tdata.degradations().vocabulary(d.modality))
    train = tdata.load_volumes(train_items, d)
    val = tdata.load_volumes(val_items, d)
    info = {
        "train": [it["key"] for it in train_items],
        "val": [it["key"] for it in val_items],
        "skipped": manifest["skipped"],
    }
    return train, val, vocab, info


def validation_samples(
    cfg: TrainingConfig,
    sc: StageConfig,
    val_volumes: Any,
    vocab: tuple[str, ...],
    batch: int,
    whole: bool = False,
) -> list[dict[str, torch.Tensor]]:
    """Fixed validation batches: sample ``i`` always uses seed ``(seed + offset, i)``.

    ``whole``: batches of whole slices (`SliceBatchDataset`, the head refit's data).
    """
    if whole:
        assert isinstance(sc, HeadStageConfig)
        n = max(1, sc.val_samples // batch)
        wds = tdata.SliceBatchDataset(
            val_volumes,
            cfg,
            sc.degradations,
            vocab,
            cfg.seed + VAL_SEED_OFFSET,
            batch,
            sc.min_size,
            sc.max_size,
        )
        return [wds[i] for i in range(n)]
    ds = tdata.PatchDataset(
        val_volumes, cfg, sc.degradations, vocab, cfg.seed + VAL_SEED_OFFSET, patches=1
    )
    items = [ds[i] for i in range(sc.val_samples)]
    return [tdata.collate(items[i : i + batch]) for i in range(0, len(items), batch)]


def train(
    cfg: TrainingConfig,
    stage: str,
    run_dir: str | os.PathLike[str],
    *,
    init: str | os.PathLike[str] | None = None,
    resume: bool = False,
    threads: int | None = None,
    device: str | None = None,
    until: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> int:
    """Run one training stage; returns the process exit code.

    Parameters
    ----------
    cfg
        The validated configuration.
    stage
        ``pretrain`` (DCPT stage 1), ``finetune`` (stage 2, from ``init``) or
        ``ablation`` (stage 2 from random init for pretrain.steps + finetune.steps).
    run_dir
        Folder for ``last.pt``, ``config.yaml``, ``metrics.jsonl``, ``tb/``.
    init
        Checkpoint whose network weights start fine-tuning (the pre-trained model).
    resume
        Continue from ``run_dir/last.pt`` (same schedule: its embedded config wins).
    threads, device
        Overrides of ``cfg.threads`` / ``cfg.device``.
    data_root, workers
        Overrides of ``cfg.data.root`` / ``cfg.data.num_workers`` that also apply when
        resuming, so that a run goes on on another machine (the data elsewhere, more
        cores for the loader). Neither changes the schedule or the samples: each
        sample is drawn from its own index's seed, whichever worker draws it.
    until
        Stop after this step (validated and checkpointed there) instead of the
        configured total; the schedule still spans the total, so ``resume`` later goes
        on as if the run had not stopped. For runs longer than one sitting, and to
        reproduce a file taken part-way through a run.
    """
    from monai.losses import FocalLoss
    from torch.optim.swa_utils import AveragedModel
    from tqdm import tqdm

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    run = Path(run_dir)
    ckpt_path = run / CHECKPOINT
    ckpt = None
    if resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        cfg = TrainingConfig.model_validate(ckpt["config"])
        stage = ckpt["stage"]
    elif resume:
        print(f"--resume: no checkpoint in {run}, starting from step 0", file=sys.stderr)
    overrides: dict[str, Any] = {}
    if data_root is not None:
        overrides["root"] = str(data_root)
    if workers is not None:
        overrides["num_workers"] = workers
    if overrides:  # validated like the config file (bounds included)
        dumped = cfg.model_dump()
        cfg = TrainingConfig.model_validate({**dumped, "data": {**dumped["data"], **overrides}})
    dev_name = resolve_device(device or cfg.device)
    dist = setup_distributed(dev_name)
    dev_name = resolve_device(device or cfg.device, dist)
    dev = torch.device(dev_name)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    torch.set_num_threads(
        threads or cfg.threads or default_threads(cfg.data.num_workers, dist.local_world)
    )
    sc = {"pretrain": cfg.pretrain, "head": cfg.head}.get(stage, cfg.finetune)
    total = sc.steps + (cfg.pretrain.steps if stage == "ablation" else 0)
    if until is not None and until < 1:
        raise ValueError(f"until must be a positive step, got {until}")
    end = total if until is None else min(total, until)
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(
            yaml.safe_dump({"stage": stage, **cfg.model_dump(mode="json")}, sort_keys=False)
        )

    train_vols, val_vols, vocab, info = build_data(cfg, run, dist)
    if dist.main:
        (run / "data.json").write_text(json.dumps(info, indent=1))
        for s in info["skipped"]:
            print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, len(vocab))
    if stage == "finetune" and init is not None and ckpt is None:
        load_init(model, init, vocab)
    if stage == "head":
        if init is None and ckpt is None:
            raise SystemExit("head: --init is required (the fine-tuned checkpoint or weights)")
        if ckpt is None:
            load_init(model, init, vocab)
        # frozen, so the restoration (and its calibration table) stays bit-identical
        model.backbone.requires_grad_(False)
    model.to(dev)
    # Channels-last lets oneDNN run the depthwise convolutions and the channel
    # LayerNorm without layout copies, as restore() does: 4.0 -> 5.1 steps/s for the MR
    # net's forward and backward at 2 threads on a 2-core CPU. Checkpoints keep the
    # strides; save_weights writes contiguous copies.
    layout = torch.channels_last if cfg.model.spatial_dims == 2 else torch.contiguous_format
    model.to(memory_format=layout)
    groups = [
        {"params": model.classifier.parameters(), "lr": sc.classifier_lr, "name": "classifier"}
    ]
    if stage != "head":
        groups.insert(0, {"params": model.backbone.parameters(), "lr": sc.lr, "name": "network"})
    opt = torch.optim.AdamW(groups, weight_decay=sc.weight_decay)
    sched = _make_scheduler(opt, sc, total)
    ema = (
        AveragedModel(model, multi_avg_fn=warmup_ema(sc.ema_decay), use_buffers=True)
        if sc.ema_decay > 0
        else None
    )
    step = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if ema is not None and ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"])
        _set_rng_state(ckpt["rng"])
        step = int(ckpt["step"])
        if dist.main:
            print(f"resumed {stage} from {ckpt_path} at step {step}/{total}", file=sys.stderr)

    net: torch.nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        # The 1x1 convolutions' gradients come back with strides that differ from their
        # bucket's only along size-1 axes: the same memory, so DDP's warning about it is
        # spurious (pytorch/pytorch#47163, #157862) and printed on every run.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")

    d = cfg.data
    if stage == "head":  # one item is a whole batch of equally sized slices
        head_batch = max(1, d.batch_size // dist.world)
        dataset: Any = tdata.SliceBatchDataset(
            train_vols,
            cfg,
            sc.degradations,
            vocab,
            cfg.seed,
            head_batch,
            sc.min_size,
            sc.max_size,
            augment=d.augment,
        )
        items_per_batch, collate = None, None
    else:
        items_per_batch = max(1, d.batch_size // d.patches_per_slice // dist.world)
        dataset = tdata.PatchDataset(
            train_vols, cfg, sc.degradations, vocab, cfg.seed, augment=d.augment
        )
        collate = tdata.collate
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=items_per_batch,
        sampler=tdata.IndexStream(step * (items_per_batch or 1), dist.rank, dist.world),
        num_workers=d.num_workers,
        collate_fn=collate,
        worker_init_fn=tdata.seed_worker,
        persistent_workers=d.num_workers > 0,
        pin_memory=dev.type == "cuda",
    )
    val_batches = (
        validation_samples(cfg, sc, val_vols, vocab, max(1, d.batch_size), whole=stage == "head")
        if dist.main
        else []
    )
    focal = FocalLoss(gamma=2.0, use_softmax=False)
    centre = cfg.model.in_slices // 2 if cfg.model.spatial_dims == 2 else 0

    writer = None
    if dist.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run / "tb"), purge_step=step if step else None)

    def save(at_step: int) -> None:
        if not dist.main:
            return
        save_atomic(
            {
                "stage": stage,
                "step": at_step,
                "total_steps": total,
                "model": model.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": _rng_state(),
                "config": cfg.model_dump(mode="json"),
                "vocabulary": list(vocab),
            },
            ckpt_path,
        )

    wait = busy = 0.0
    window: dict[str, float] = {}
    window_n = 0
    done = 0  # steps run by this process (resumed runs start mid-way)
    status = EXIT_OK
    it = iter(loader)
    bar = tqdm(total=total, initial=step, desc=stage, disable=not dist.main, mininterval=1.0)
    with _Stop() as stopper:
        while step < end:
            t0 = time.perf_counter()
            batch = next(it)
            t1 = time.perf_counter()
            batch = {
                k: v.to(dev, non_blocking=True, memory_format=layout)
                if v.ndim == 4
                else v.to(dev, non_blocking=True)
                for k, v in batch.items()
            }
            losses = _losses(
                "finetune" if stage == "ablation" else stage, net, batch, sc, focal, centre
            )
            flags = torch.tensor(
                [float(not torch.isfinite(losses["loss"]).item()), float(stopper.requested)],
                device=dev,
            )
            if dist.world > 1:  # every rank must agree to stop at the same step
                torch.distributed.all_reduce(flags)
            if flags[0] > 0:
                if dist.main:
                    print(
                        f"\nstep {step}: loss is {losses['loss'].item()} (not finite); stopping. "
                        f"The last good checkpoint is kept: {ckpt_path}",
                        file=sys.stderr,
                    )
                status = EXIT_NONFINITE
                break
            if flags[1] > 0:
                if dist.main:
                    print(f"\ninterrupted at step {step}: saving {ckpt_path}", file=sys.stderr)
                save(step)
                status = EXIT_INTERRUPTED
                break
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if sc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), sc.grad_clip)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            done += 1
            t2 = time.perf_counter()
            wait += t1 - t0
            busy += t2 - t0
            if dist.main:
                for k in LOGGED_LOSSES:
                    if k in losses:  # mean training losses since the last validation
                        window[k] = window.get(k, 0.0) + float(losses[k].item())
                window_n += 1
                bar.update(1)
                if step % 10 == 0 or step == total:
                    bar.set_postfix(loss=f"{losses['loss'].item():.4f}", wait=f"{wait / busy:.0%}")
                    for k in LOGGED_LOSSES:
                        if k in losses:
                            writer.add_scalar(f"{stage}/{k}", losses[k].item(), step)
                    writer.add_scalar(f"{stage}/data_wait_share", wait / busy, step)
                    writer.add_scalar(f"{stage}/lr", sched.get_last_lr()[0], step)
            if step % sc.val_every == 0 or step == end:
                if dist.main:
                    m = validate(
                        ema.module if ema is not None else model, val_batches, vocab, dev_name
                    )
                    m.update(
                        stage=stage,
                        step=step,
                        **{f"train_{k}": v / max(1, window_n) for k, v in window.items()},
                        data_wait_share=wait / busy,
                        steps_per_s=step_rate(busy, done),
                    )
                    window, window_n = {}, 0
                    with open(run / "metrics.jsonl", "a") as fh:
                        fh.write(json.dumps(m) + "\n")
                    for k in ("psnr_restored", "psnr_degraded", "psnr_clean_restored"):
                        if m[k] is not None:
                            writer.add_scalar(f"{stage}/val_{k}", m[k], step)
                    writer.add_scalar(f"{stage}/val_acc_exact", m["acc_exact"], step)
                    for v, a in m["acc_type"].items():
                        writer.add_scalar(f"{stage}/val_acc/{v}", a, step)
            if step % sc.checkpoint_every == 0 or step == end:
                save(step)
    bar.close()
    if writer is not None:
        writer.close()
    if dist.main and busy > 0:
        print(
            f"{stage}: step {step}/{total}; data wait {wait / busy:.0%} of step time; "
            f"{step_rate(busy, done):.2f} steps/s",
            file=sys.stderr,
        )
    if dist.main and step >= end and end < total:
        print(f"{stage}: stopped at step {step} (until {until}); --resume goes on", file=sys.stderr)
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return status


def step_rate(busy: float, steps: int) -> float:
    """Steps per second over the measured busy time (0 when nothing was measured)."""
    return steps / busy if busy > 0 and math.isfinite(busy) else 0.0


__all__ = ["train", "load_checkpoint", "unwrap_state", "validate"]
