"""Speed and memory benchmark: restore time and peak RSS against volume size and settings.

Each measurement runs in a fresh subprocess (``--worker``), so its peak RSS is its
own: the worker loads the data and the model, runs one warm-up restore on 2 slices,
resets the kernel's RSS high-water mark (``/proc/self/clear_refs``) and times one
`restore()` (classification of 12 slices included). Sizes: 32/64/128 slices of
256x256 (MR model, colin27/S1 T1 slices) and 16/32/64 of 512x512 (CT model, the chest
CT repeated along z), capped by ``--max-slices``, with ``--threads`` (default 2, both
cores of the reference machine), ``--tile`` and ``--batch``; then tile size, tile batch,
the other thread count, and optionally BM4D against napari-dcpt on the same volume
(one thread each, CPU seconds compared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.quality import add_model_args, model_paths, resolve_out

TARGETS = {
    "MR 256x256x128 restore <= 15 s": ("MR", 256, 128, 15.0),
    "CT 512x512x64 restore <= 30 s": ("CT", 512, 64, 30.0),
}


def _volume(modality: str, size: int, slices: int) -> Any:
    """A real volume of ``slices`` x ``size`` x ``size`` (repeated along z if needed)."""
    from napari_dcpt import io
    from napari_dcpt.volume import Volume

    d = common.data_dir()
    if modality == "MR":
        v = io.read(d / "mr/s1_t1_1mm.nii.gz", modality="MR")  # 256^3, 1 mm
        arr = np.asarray(v.array)
        ys, xs = common.centre(arr.shape[1], size), common.centre(arr.shape[2], size)
        arr = arr[:, ys, xs]
    else:
        v = io.read(d / "ct/lung1.nrrd", modality="CT")  # 48 x 512 x 512
        arr = np.asarray(v.array)[:, :size, :size]
    reps = int(np.ceil(slices / arr.shape[0]))
    arr = np.concatenate([arr, arr[::-1]] * reps)[:slices] if reps > 1 else arr[:slices]
    return Volume(np.ascontiguousarray(arr), v.affine, modality, "HU" if modality == "CT" else "")


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement (runs inside the fresh subprocess)."""
    import torch

    t_start = time.perf_counter()
    torch.set_num_threads(spec["threads"])
    if spec["method"] == "bm4d":
        import bm4d

        vol = _volume(spec["modality"], spec["size"], spec["slices"])
        x = vol.array.astype(np.float32) / float(np.percentile(vol.array, 99.5))
        _, wall, cpu, peak = common.measure(lambda: bm4d.bm4d(x, 0.05))
        return {
            **spec,
            "time_s": wall,
            "cpu_s": cpu,
            "peak_rss_growth_mb": peak,
            "peak_rss_mb": common._status_kb("VmHWM") / 1024,
        }
    from napari_dcpt.inference import load_model, restore, run
    from napari_dcpt.volume import Volume

    vol = _volume(spec["modality"], spec["size"], spec["slices"])
    t = time.perf_counter()
    lm = load_model(spec["weights"], device="cpu")
    load_s = time.perf_counter() - t
    kw = {"tile": spec["tile"], "batch_size": spec["batch"], "device": spec.get("device", "cpu")}
    warm = Volume(np.ascontiguousarray(vol.array[:2]), vol.affine, vol.modality, vol.unit)
    run(restore(warm, model=lm, **kw))
    _, wall, cpu, growth = common.measure(lambda: run(restore(vol, model=lm, **kw)))
    return {
        **spec,
        "time_s": wall,
        "cpu_s": cpu,
        "per_slice_s": wall / spec["slices"],
        "load_s": load_s,
        "peak_rss_growth_mb": growth,
        "peak_rss_mb": common._status_kb("VmHWM") / 1024,
        "process_s": time.perf_counter() - t_start,
    }


def _measure(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks", "speed", "--worker", json.dumps(spec)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=common.ROOT)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        return {**spec, "error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed"}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["subprocess_s"] = time.perf_counter() - t
    return res


def plan(args: argparse.Namespace, weights: dict[str, str]) -> list[dict[str, Any]]:
    """The measurements to run (sizes capped by ``--max-slices``)."""

    def spec(group: str, mod: str, size: int, slices: int, **kw: Any) -> dict[str, Any]:
        base = {
            "group": group,
            "method": "napari-dcpt",
            "modality": mod,
            "size": size,
            "slices": slices,
            "tile": args.tile,
            "batch": args.batch,
            "threads": args.threads,
            "weights": weights.get(mod),
        }
        return {**base, **kw}

    out = []
    for n in args.mr_slices:
        if n <= args.max_slices:
            out.append(spec("size", "MR", 256, n))
    for n in args.ct_slices:
        if n <= args.max_slices:
            out.append(spec("size", "CT", 512, n))
    if not args.sizes_only:
        for tile in (128, 256, 512):
            out.append(spec("tile", "CT", 512, 8, tile=tile, batch=1))
        for b in (1, 4, 16):
            out.append(spec("batch", "MR", 256, 16, batch=b))
        # compare with the size rows of the same volumes (run with --threads)
        other = 1 if args.threads != 1 else 2
        out.append(spec("threads", "MR", 256, 32, threads=other))
        out.append(spec("threads", "CT", 512, 16, threads=other))
    if args.bm4d:
        out.append(spec("bm4d", "MR", 128, 16, method="bm4d", threads=1))
        out.append(spec("bm4d", "MR", 128, 16, threads=1))
    out = [s for s in out if s["group"] in args.groups]
    return [s for s in out if s["method"] == "bm4d" or s["weights"]]


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of every measurement."""
    lines = [
        "| group | method | modality | volume (z x y x x) | tile | batch | threads | "
        "wall (s) | CPU (s) | CPU s / slice | peak RSS (MB) | RSS growth during restore (MB) "
        "| weights |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['group']} | {r['method']} | {r['modality']} | "
                f"{r['slices']}x{r['size']}x{r['size']} | {r['tile']} | {r['batch']} | "
                f"{r['threads']} | {r['error']} | | | | | |"
            )
            continue
        lines.append(
            f"| {r['group']} | {r['method']} | {r['modality']} | "
            f"{r['slices']}x{r['size']}x{r['size']} | {r['tile']} | {r['batch']} | "
            f"{r['threads']} | {r['time_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['cpu_s'] / r['slices']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['peak_rss_growth_mb']:.0f} | "
            f"{Path(r['weights']).name if r.get('weights') and r['method'] != 'bm4d' else '-'} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The target lines (measured or extrapolated from the size series, said which).

    The speed targets are wall seconds of the size rows (the user's view, with the
    ``--threads`` of the run, 2 = both cores of the reference machine); the CPU
    seconds are in the table.
    """
    out = []
    ok = [r for r in rows if "error" not in r and r["group"] == "size"]
    for label, (mod, size, n, limit) in TARGETS.items():
        hit = [r for r in ok if r["modality"] == mod and r["size"] == size and r["slices"] == n]
        if hit:
            t = hit[0]["time_s"]
            out.append(
                f"- {label}: measured {t:.1f} s wall with {hit[0]['threads']} thread(s), "
                f"{hit[0]['cpu_s']:.1f} CPU s -> {'met' if t <= limit else 'NOT met'}"
            )
            continue
        ser = [r for r in ok if r["modality"] == mod and r["size"] == size]
        if len(ser) >= 2:
            a, b = np.polyfit([r["slices"] for r in ser], [r["time_s"] for r in ser], 1)
            out.append(
                f"- {label}: not run (--max-slices); linear fit of the measured sizes "
                f"gives {a * n + b:.1f} s wall (estimate)"
            )
    ser = [r for r in ok if r["modality"] == "CT" and r["size"] == 512]
    if len(ser) >= 2:
        xs = [r["slices"] for r in ser]
        a, b = np.polyfit(xs, [r["peak_rss_mb"] for r in ser], 1)
        est = a * 300 + b
        run300 = [r for r in ser if r["slices"] == 300]
        meas = f"measured {run300[0]['peak_rss_mb']:.0f} MB; " if run300 else ""
        out.append(
            f"- CT 512x512x300 within 3 GB peak RSS: {meas}linear fit over "
            f"{xs} slices: {b:.0f} MB + {a:.2f} MB/slice -> {est:.0f} MB at 300 slices "
            f"({'within' if est <= 3072 else 'above'} 3 GB, estimate)"
        )
    bm = [r for r in rows if r["group"] == "bm4d" and "error" not in r]
    if len(bm) == 2:
        tb = next(r for r in bm if r["method"] == "bm4d")["cpu_s"]
        td = next(r for r in bm if r["method"] != "bm4d")["cpu_s"]
        out.append(
            f"- BM4D vs napari-dcpt on the same 16x128x128 MR volume (1 thread): "
            f"{tb:.1f} vs {td:.1f} CPU s -> napari-dcpt {tb / td:.0f}x faster "
            f"({'met' if tb / td >= 10 else 'NOT met'}: target 10x)"
        )
    return out


def main(argv: list[str]) -> None:
    """``python -m benchmarks speed [--max-slices 128] [--bm4d]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks speed", description=__doc__)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--max-slices", type=int, default=128)
    ap.add_argument("--mr-slices", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--ct-slices", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the size rows")
    ap.add_argument("--tile", type=int, default=512, help="restore() tile of the size rows")
    ap.add_argument("--batch", type=int, default=1, help="restore() batch of the size rows")
    ap.add_argument("--sizes-only", action="store_true", help="skip tile/batch/threads rows")
    ap.add_argument("--bm4d", action="store_true", help="BM4D vs napari-dcpt, same volume")
    ap.add_argument("--timeout", type=float, default=300.0, help="per measurement (s)")
    ap.add_argument(
        "--groups",
        nargs="+",
        default=["size", "tile", "batch", "threads", "bm4d"],
        help="which rows to measure",
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep rows of an existing speed.json that this run does not re-measure",
    )
    ap.add_argument("--out", type=common.Path, default=common.RESULTS)
    add_model_args(ap)
    args = ap.parse_args(argv)
    args.out = resolve_out(args)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    import torch

    gpu = torch.cuda.is_available()
    print("GPU: " + (torch.cuda.get_device_name(0) if gpu else "no GPU"), file=sys.stderr)
    weights = {}
    for mod in ("MR", "CT"):
        w, _ = model_paths(args, mod)
        if w is not None:
            weights[mod] = str(w)
    t0 = time.perf_counter()
    rows = []
    specs = plan(args, weights)
    if gpu:  # GPU rows: the size series again on CUDA
        specs += [{**s, "device": "cuda", "group": "gpu"} for s in specs if s["group"] == "size"]
    for s in specs:
        r = _measure(s, args.timeout)
        rows.append(r)
        print(table([r]).splitlines()[-1], file=sys.stderr, flush=True)
    runs = [common.environment(["python", "-m", "benchmarks", "speed", *argv])]
    old_path = args.out / "speed.json"
    if args.merge and old_path.exists():
        old = json.loads(old_path.read_text())

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            # the size series is one setting (--tile/--batch/--threads): a rerun replaces it
            fields = ("group", "method", "modality", "size", "slices")
            if r.get("group") != "size":
                fields += ("tile", "batch", "threads")
            return tuple(r.get(k) for k in fields)

        done = {key(r) for r in rows if "error" not in r}
        rows = [r for r in old["rows"] if key(r) not in done and "error" not in r] + rows
        runs = old.get("runs", [old["environment"]]) + runs
        weights = {**old.get("weights", {}), **weights}
    res = {
        "environment": runs[-1],
        "runs": runs,
        "gpu": "no GPU" if not gpu else torch.cuda.get_device_name(0),
        "weights": weights,
        "runtime_s": time.perf_counter() - t0,
        "rows": rows,
        "targets": targets(rows),
    }
    common.write_json(args.out / "speed.json", res)
    env = res["environment"]
    md = [
        "# Speed and memory benchmark",
        "",
        f"Command: `{env['command']}`  ",
        f"Date: {env['date_utc']}; machine: {env['machine']}"
        f"{'; ' + env['note'] if env['note'] else ''}; GPU: {res['gpu']}; runtime "
        f"{res['runtime_s'] / 60:.1f} min",
        "",
        *res["targets"],
        "",
        table(rows),
        "",
    ]
    (args.out / "speed.md").write_text("\n".join(md))
    print("\n".join(md))
