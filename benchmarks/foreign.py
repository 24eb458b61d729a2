"""Degradations made by other people's code: MONAI's and TorchIO's artefact transforms.

The shipped models were trained and calibrated on napari-dcpt's own simulator
(`napari_dcpt.degradations`). A user's scan, or a test set someone else made, carries
artefacts from other physics and other code, so a model can look good on its own
simulator and still misread or harm those. This benchmark degrades the held-out
volumes with MONAI's and TorchIO's transforms, at the libraries' defaults where those
are realistic (each departure is in the simulator's note, written before the first
run), then measures on every case what `restore()` does as shipped (calibrated
strength) and at full strength, and what its report names first. Writes
``foreign.json`` and ``foreign.md`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.quality import DCPT, NOPRT, add_model_args, model_paths, resolve_out, runs_text

Spacing = tuple[float, float, float]


@dataclass(frozen=True)
class Simulator:
    """One foreign degradation: ``fn(x, spacing_zyx, seed)`` on a ``(z, y, x)`` array.

    MR arrays arrive scaled so that the clean volume's 99.5th percentile is 1 (the
    scale TorchIO's and MONAI's absolute parameters assume); CT arrays are in HU.
    ``expected`` is the registry type a report should name first.
    """

    name: str
    modality: str
    expected: str
    fn: Callable[[np.ndarray, Spacing, int], np.ndarray]
    note: str


def _monai(transform: Any, x: np.ndarray, seed: int, per_slice: bool) -> np.ndarray:
    """Run a MONAI array transform, seeded; ``per_slice`` treats z as channels (2-D k-space)."""
    if hasattr(transform, "set_random_state"):
        transform.set_random_state(seed)
    out = transform(x if per_slice else x[None])
    out = np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out)
    return (out if per_slice else out[0]).astype(np.float32)


def _tio(transform: Any, x: np.ndarray, spacing: Spacing, seed: int) -> np.ndarray:
    """Run a TorchIO transform on ``(z, y, x)`` with its true voxel size, seeded."""
    import torch
    import torchio as tio

    torch.manual_seed(seed)  # TorchIO draws its parameters from torch's generator
    # TorchIO's arrays are (channel, x, y, z) with the voxel size in the affine
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    img = tio.ScalarImage(tensor=torch.from_numpy(x.transpose(2, 1, 0)[None].copy()), affine=affine)
    out = transform(img).data[0].numpy()
    return np.ascontiguousarray(out.transpose(2, 1, 0), dtype=np.float32)


def _draw(seed: int, lo: float, hi: float) -> float:
    return float(np.random.default_rng(seed).uniform(lo, hi))


def simulators() -> list[Simulator]:
    """Every foreign simulator (MONAI and TorchIO are imported here, not with the module)."""
    import monai.transforms as mt
    import torchio as tio

    def rician(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        std = _draw(seed, 0.01, 0.06)
        return _monai(mt.RandRicianNoise(prob=1.0, std=std, sample_std=False), x, seed, False)

    def gibbs(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        return _monai(mt.GibbsNoise(alpha=_draw(seed, 0.3, 0.7)), x, seed, True)

    def monai_spike(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        return _monai(mt.RandKSpaceSpikeNoise(prob=1.0), x, seed, True)

    def monai_bias(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        return _monai(mt.RandBiasField(prob=1.0), x, seed, False)

    def smooth(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        s = _draw(seed, 0.6, 1.5)
        return _monai(mt.GaussianSmooth(sigma=(0.0, s, s)), x, seed, False)

    def ct_noise(x: np.ndarray, sp: Spacing, seed: int) -> np.ndarray:
        std = _draw(seed, 10.0, 40.0)
        return _monai(mt.RandGaussianNoise(prob=1.0, std=std, sample_std=False), x, seed, False)

    def tio_fn(make: Callable[[], Any]) -> Callable[[np.ndarray, Spacing, int], np.ndarray]:
        return lambda x, sp, seed: _tio(make(), x, sp, seed)

    mr = [
        Simulator(
            "monai RandRicianNoise",
            "MR",
            "rician_noise",
            rician,
            "std drawn in [0.01, 0.06] of the clean p99.5 (MONAI's default std=1 is for "
            "z-scored data)",
        ),
        Simulator(
            "monai GibbsNoise",
            "MR",
            "gibbs_ringing",
            gibbs,
            "per slice (2-D k-space); alpha drawn in [0.3, 0.7] (the default range [0, 1] "
            "reaches the identity and a blank image)",
        ),
        Simulator("monai RandKSpaceSpikeNoise", "MR", "spike", monai_spike, "per slice, defaults"),
        Simulator("monai RandBiasField", "MR", "bias_field", monai_bias, "3-D, defaults"),
        Simulator(
            "monai GaussianSmooth",
            "MR",
            "blur",
            smooth,
            "in-plane sigma drawn in [0.6, 1.5] voxels",
        ),
        Simulator(
            "torchio RandomNoise",
            "MR",
            "rician_noise",
            tio_fn(lambda: tio.RandomNoise(std=(0.01, 0.06))),
            "Gaussian, std in [0.01, 0.06] of the clean p99.5 (the default [0, 0.25] is "
            "for z-scored data)",
        ),
        Simulator(
            "torchio RandomBlur",
            "MR",
            "blur",
            tio_fn(lambda: tio.RandomBlur(std=(0.5, 2.0))),
            "std in [0.5, 2] mm (the default starts at 0, no blur)",
        ),
        Simulator(
            "torchio RandomMotion", "MR", "motion", tio_fn(tio.RandomMotion), "3-D, defaults"
        ),
        Simulator(
            "torchio RandomGhosting",
            "MR",
            "ghosting",
            tio_fn(lambda: tio.RandomGhosting(axes=(0, 1))),
            "in-plane axes only (a 2-D acquisition's phase encoding), other defaults",
        ),
        Simulator("torchio RandomSpike", "MR", "spike", tio_fn(tio.RandomSpike), "3-D, defaults"),
        Simulator(
            "torchio RandomBiasField",
            "MR",
            "bias_field",
            tio_fn(tio.RandomBiasField),
            "3-D, defaults",
        ),
    ]
    ct = [
        Simulator(
            "monai RandGaussianNoise",
            "CT",
            "low_dose",
            ct_noise,
            "white noise, std drawn in [10, 40] HU (real low-dose noise is streaky and "
            "correlated; white noise is the model others most often use)",
        ),
        Simulator(
            "monai GaussianSmooth", "CT", "blur", smooth, "in-plane sigma in [0.6, 1.5] voxels"
        ),
        Simulator(
            "torchio RandomBlur",
            "CT",
            "blur",
            tio_fn(lambda: tio.RandomBlur(std=(0.5, 2.0))),
            "std in [0.5, 2] mm",
        ),
    ]
    return mr + ct


@functools.cache
def _whole(path: Path, modality: str) -> np.ndarray:
    """The whole scan a held-out crop came from (float32, scanner units)."""
    from napari_dcpt import io

    return np.asarray(io.read(path, modality=modality).array, dtype=np.float32)


def degrade(vol: common.TestVolume, sim: Simulator, seed: int) -> np.ndarray:
    """``vol`` degraded by ``sim``: the whole scan, then cut as the held-out crop.

    TorchIO's motion, ghosting and spike act in 3-D k-space, so they must see the whole
    scan as an acquisition would, not a slab of it (a volume without ``source``, as in
    the tests, is degraded as it is).
    """
    if vol.source is None:
        src, cut = vol.clean, (slice(None), slice(None), slice(None))
    else:
        src = _whole(vol.source, vol.modality)
        n, h, w = vol.clean.shape
        zs = slice(vol.z0, vol.z0 + n)
        if vol.crop is not None:
            cut = (zs, *vol.crop)
        else:  # MR crops are centred in-plane (common.load_volume)
            cut = (zs, common.centre(src.shape[1], h), common.centre(src.shape[2], w))
    if vol.modality == "MR":
        scale = float(np.percentile(vol.clean, 99.5))
        out = sim.fn(src / scale, vol.spacing, seed)[cut] * scale  # type: ignore[arg-type]
    else:
        out = sim.fn(src, vol.spacing, seed)[cut]  # type: ignore[arg-type]
    if out.shape != vol.clean.shape or not np.isfinite(out).all():
        raise RuntimeError(f"{sim.name} returned shape {out.shape} or non-finite values")
    return np.ascontiguousarray(out, dtype=np.float32)


def measure(
    vol: common.TestVolume, mask: np.ndarray, x: np.ndarray, weights: Any, threads: int
) -> dict[str, Any]:
    """One degraded case through one weights file: the network at full strength, and as
    shipped, which `restore` blends from it as ``x + s * (full - x)`` with the report's
    strength ``s`` (`report_strength`), so one network pass gives both."""
    from napari_dcpt.inference import restore
    from napari_dcpt.inference import run as drive
    from napari_dcpt.inference.engine import report_strength
    from napari_dcpt.volume import Volume

    v = Volume(x, vol.affine, vol.modality, "HU" if vol.modality == "CT" else "")
    res = drive(restore(v, model=weights, device="cpu", threads=threads, scale_by_report=False))
    full = np.asarray(res.volume.array, np.float32)
    strength = report_strength(res.report)
    shipped = x + np.float32(strength) * (full - x)
    q_full, q_shipped = common.quality(vol, full, mask), common.quality(vol, shipped, mask)
    return {
        "shipped_psnr": q_shipped["psnr_mask"],
        "shipped_ssim": q_shipped["ssim_mask"],
        "full_psnr": q_full["psnr_mask"],
        "full_ssim": q_full["ssim_mask"],
        "top1": res.report.findings[0].type,  # most likely first
        "detected": [f.type for f in res.report.detected],
        "verdict": res.report.verdict,
        "clean_probability": res.report.clean_probability,
        "strength": strength,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Degrade, restore and classify every case; return the JSON-ready result."""
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    sims = [s for s in simulators() if s.modality in args.modality]
    rows: list[dict[str, Any]] = []
    models: dict[str, dict[str, str]] = {}
    for mod in args.modality:
        default, abl = model_paths(args, mod)
        nets = {k: v for k, v in ((DCPT, default), (NOPRT, abl)) if v is not None}
        models[mod] = {k: str(v) for k, v in nets.items()}
        cases = (
            (vol, sim, seed)
            for vol in common.heldout_volumes(mod)
            for sim in sims
            if sim.modality == mod
            for seed in range(args.seeds)
        )
        for vol, sim, seed in cases:
            mask = common.mask_of(vol)
            x = degrade(vol, sim, seed)
            inp = common.quality(vol, x, mask)
            for name, path in nets.items():
                row = {
                    "modality": mod,
                    "volume": vol.name,
                    "simulator": sim.name,
                    "expected": sim.expected,
                    "seed": seed,
                    "model": name,
                    "input_psnr": inp["psnr_mask"],
                    "input_ssim": inp["ssim_mask"],
                    **measure(vol, mask, x, path, args.threads),
                }
                rows.append(row)
                print(
                    f"{mod} {vol.name} {sim.name:<28} seed {seed} {name:<15} "
                    f"in {row['input_psnr']:6.2f} shipped {row['shipped_psnr']:6.2f} "
                    f"full {row['full_psnr']:6.2f} top1 {row['top1']}",
                    file=sys.stderr,
                    flush=True,
                )
    runtime = time.perf_counter() - t0
    env = common.environment(args.argv)
    return {
        "environment": env,
        "runs": [{**env, "modalities": list(args.modality), "runtime_s": runtime}],
        "runtime_s": runtime,
        "models": models,
        "simulators": {s.modality + " " + s.name: s.note for s in sims},
        "metric": "masked 3-D PSNR/SSIM as in the quality benchmark",
        "rows": rows,
        "summary": summarise(rows),
    }


def _stats(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Gains over the input (as shipped and at full strength) and the report's hits."""
    shipped = np.array([r["shipped_psnr"] - r["input_psnr"] for r in rs])
    full = np.array([r["full_psnr"] - r["input_psnr"] for r in rs])
    return {
        "n": len(rs),
        "input_psnr": float(np.mean([r["input_psnr"] for r in rs])),
        "gain_shipped": float(shipped.mean()),
        "worst_shipped": float(shipped.min()),
        "below_input": int((shipped < 0).sum()),
        "gain_full": float(full.mean()),
        "below_input_full": int((full < 0).sum()),
        "strength": float(np.mean([r["strength"] for r in rs])),
        "top1_hits": sum(r["top1"] == r["expected"] for r in rs),
        "reported_clean": sum(r["verdict"] == "clean" for r in rs),
        "unclear": sum(r["verdict"] == "unclear" for r in rs),
        # the two types most often named first, with their counts (ties are common: one
        # volume reads a simulator one way, the other another); ties in order of first sight
        "top1_most": ", ".join(
            f"{t} {n}" for t, n in Counter(r["top1"] for r in rs).most_common(2)
        ),
    }


def _groups(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], list]:
    out: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (modality, simulator, model): gains, cases below input, top-1 hits."""
    keys = ("modality", "simulator", "model")
    return [
        {**dict(zip(keys, k)), "expected": rs[0]["expected"], **_stats(rs)}
        for k, rs in _groups(rows, keys).items()
    ]


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per simulator and model."""
    lines = [
        "| modality | simulator | model | expected | cases | input PSNR | gain as shipped "
        "(worst) | below input | gain at full strength | mean strength | named first | "
        "called clean | unclear | most often named first (cases) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["summary"]:
        lines.append(
            f"| {s['modality']} | {s['simulator']} | {s['model']} | {s['expected']} | {s['n']} "
            f"| {s['input_psnr']:.2f} | {s['gain_shipped']:+.2f} ({s['worst_shipped']:+.2f}) "
            f"| {s['below_input']} | {s['gain_full']:+.2f} | {s['strength']:.2f} "
            f"| {s['top1_hits']}/{s['n']} | {s['reported_clean']}/{s['n']} | {s['unclear']}/{s['n']} "
            f"| {s['top1_most']} |"
        )
    return "\n".join(lines)


def totals(result: dict[str, Any]) -> str:
    """A line per modality and model: mean gain, cases below input, top-1 over all cases."""
    out = []
    for (mod, model), rs in _groups(result["rows"], ("modality", "model")).items():
        t = _stats(rs)
        out.append(
            f"- {mod} {model}: {t['n']} cases; gain as shipped {t['gain_shipped']:+.2f} dB "
            f"(below input in {t['below_input']}, worst {t['worst_shipped']:+.2f}); at full "
            f"strength {t['gain_full']:+.2f} dB (below input in {t['below_input_full']}); "
            f"expected type named first in {t['top1_hits']} "
            f"({100 * t['top1_hits'] / t['n']:.0f} %), the scan called clean in "
            f"{t['reported_clean']}"
        )
    return "\n".join(out)


def notes(result: dict[str, Any]) -> str:
    """The simulators' settings, as a list."""
    return "\n".join(f"- {k}: {v}" for k, v in result["simulators"].items())


def main(argv: list[str]) -> None:
    """``python -m benchmarks foreign [--modality MR CT] [--seeds 5] [--threads 2]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks foreign", description=__doc__)
    ap.add_argument("--modality", nargs="+", default=["MR", "CT"], choices=["MR", "CT"])
    ap.add_argument("--seeds", type=int, default=5, help="draws per volume and simulator")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=common.Path, default=common.RESULTS)
    add_model_args(ap)
    args = ap.parse_args(argv)
    try:
        import torchio  # noqa: F401
    except ImportError:
        sys.exit('error: TorchIO is missing: pip install -c constraints.txt -e ".[bench]"')
    args.out = resolve_out(args)
    args.argv = ["python", "-m", "benchmarks", "foreign", *argv]
    res = run(args)
    res["totals"] = totals(res).splitlines()  # for the model card, which reads JSON only
    common.write_json(args.out / "foreign.json", res)
    md = ["# Foreign-simulator benchmark", "", runs_text(res), "", totals(res), "", table(res)]
    md += ["", "Simulators:", "", notes(res), ""]
    (args.out / "foreign.md").write_text("\n".join(md))
    print(totals(res))
    print(table(res))
    print(f"wrote {args.out}/foreign.json, foreign.md in {res['runtime_s'] / 60:.1f} min")
