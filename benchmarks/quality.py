"""Quality benchmark: napari-dcpt vs no pre-training vs classical methods on held-out volumes.

Every registry type at every severity (``--quick``: mild and severe) plus mixtures and
a clean input, on the development volumes no model was trained on; PSNR/SSIM over
the volume and in a foreground mask, wall time and peak RSS growth per call. Writes
``quality.json``, ``quality.md`` and two plots under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.methods import TUNED, Method, classical_methods, dcpt_method

DCPT, NOPRT = "napari-dcpt", "no-pretraining"


def resolve_out(args: argparse.Namespace) -> Path:
    """Results folder; smoke tests with ``--tiny`` never overwrite the real results."""
    if args.tiny and args.out == common.RESULTS:
        return common.CACHE / "tiny_results"
    return args.out


def add_model_args(ap: argparse.ArgumentParser) -> None:
    """Options choosing the default and ablation weights (shared with classify/speed)."""
    ap.add_argument(
        "--weights-dir",
        type=Path,
        default=common.ROOT / "src/napari_dcpt/weights",
        help="folder with mr.safetensors / ct.safetensors (falls back to runs/)",
    )
    ap.add_argument(
        "--ablation-dir",
        type=Path,
        default=common.ROOT / "benchmarks/weights",
        help="folder with mr_ablation.safetensors / ct_ablation.safetensors (the committed "
        "no-pre-training models; `training/train_default.sh` writes them to runs/)",
    )
    for m in ("mr", "ct"):
        ap.add_argument(f"--{m}-weights", type=Path, default=None, help=f"explicit {m} model")
        ap.add_argument(
            f"--{m}-ablation", type=Path, default=None, help=f"explicit {m} no-pre-training model"
        )
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="smoke test: random tiny models instead of trained weights",
    )


def model_paths(args: argparse.Namespace, modality: str) -> tuple[Path | None, Path | None]:
    """(default model, ablation model) for ``modality``; None where missing."""
    m = modality.lower()
    if args.tiny:
        return tiny_model(modality, 0), tiny_model(modality, 1)
    default = getattr(args, f"{m}_weights")
    if default is None:
        for cand in (args.weights_dir / f"{m}.safetensors", common.ROOT / f"runs/{m}.safetensors"):
            if cand.exists():
                default = cand
                break
    abl = getattr(args, f"{m}_ablation") or args.ablation_dir / f"{m}_ablation.safetensors"
    return (default if default and default.exists() else None), (abl if abl.exists() else None)


def tiny_model(modality: str, seed: int) -> Path:
    """A random, untrained tiny model with the real vocabulary (for smoke tests only)."""
    import torch

    from napari_dcpt.config import ModelConfig
    from napari_dcpt.degradations import vocabulary
    from napari_dcpt.models import build_model, save_weights

    path = common.CACHE / f"tiny_{modality.lower()}_{seed}.safetensors"
    if not path.exists():
        torch.manual_seed(seed)
        cfg = ModelConfig(width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
        vocab = vocabulary(modality)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_weights(path, build_model(cfg, len(vocab)), cfg, vocab, {"modality": modality})
    return path


def _methods(args: argparse.Namespace, modality: str) -> tuple[list[Method], dict[str, str]]:
    default, abl = model_paths(args, modality)
    methods: list[Method] = []
    status = {}
    for name, path in ((DCPT, default), (NOPRT, abl)):
        if args.classical_only:
            status[name] = "not run (--classical-only)"
        elif path is None:
            status[name] = "pending (weights not found)"
        else:
            methods.append(dcpt_method(name, path, threads=args.threads))
            status[name] = str(
                path.relative_to(common.ROOT) if path.is_relative_to(common.ROOT) else path
            )
    bm4d = "none" if args.no_bm4d else ("all" if args.bm4d_all else "noise-single")
    classical = classical_methods(modality, bm4d, args.quick)
    if args.quick:  # quick: drop the slowest classical methods except where they are unique
        classical = [m for m in classical if m.name not in ("dipy_nlm",)]
    return methods + classical, status


def _row_file(vol: common.TestVolume, rec: Any, m: Method, params: dict[str, Any]) -> Path:
    # the case key covers the simulator's code, so a changed degradation is recomputed
    key = json.dumps([common.case_key(vol, rec), m.name, params], sort_keys=True)
    return common.CACHE / "rows" / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"


def _cached_row(
    vol: common.TestVolume, rec: Any, m: Method, params: dict[str, Any]
) -> dict[str, Any] | None:
    f = _row_file(vol, rec, m, params)
    return json.loads(f.read_text()) if m.kind == "classical" and f.exists() else None


def _store_row(
    vol: common.TestVolume, rec: Any, m: Method, params: dict[str, Any], row: dict[str, Any]
) -> None:
    keep = ("method", "psnr", "ssim", "psnr_mask", "ssim_mask", "time_s", "cpu_s", "peak_mb")
    common.write_json(_row_file(vol, rec, m, params), {k: row[k] for k in keep})


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready result (also written to disk)."""
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    status: dict[str, dict[str, str]] = {}
    for modality in args.modality:
        methods, status[modality] = _methods(args, modality)
        for vol in common.heldout_volumes(modality, quick=args.quick):
            mask = common.mask_of(vol)
            for kind, rec in common.case_records(modality, args.quick):
                if (
                    args.max_cases
                    and len([r for r in rows if r["method"] == "input"]) >= args.max_cases
                ):
                    break
                case = common.build_case(vol, kind, rec)
                base = {
                    "modality": modality,
                    "volume": vol.name,
                    "case": case.label,
                    "type": case.type_key,
                    "severity": case.severity,
                    "kind": kind,
                    "noise_std": case.noise_std,
                    "noise_source": case.noise_source,
                    "shape": list(vol.clean.shape),
                }
                inp = {
                    **base,
                    "method": "input",
                    **common.quality(vol, case.degraded, mask),
                    "time_s": 0.0,
                    "cpu_s": 0.0,
                    "peak_mb": 0.0,
                }
                rows.append(inp)
                for m in methods:
                    if not m.applies(case):
                        continue
                    params = TUNED[modality].get(m.name, {})
                    cached = _cached_row(vol, rec, m, params) if args.reuse else None
                    if cached is not None:  # a classical result does not depend on the model
                        row = {**base, **cached}
                    else:
                        out, wall, cpu, mem = common.measure(functools.partial(m.run, case, params))
                        row = {
                            **base,
                            "method": m.name,
                            **common.quality(vol, out, mask),
                            "time_s": wall,
                            "cpu_s": cpu,
                            "peak_mb": mem,
                        }
                        if m.kind == "classical":
                            _store_row(vol, rec, m, params, row)
                    if m.name in case.reports:
                        row["detected"] = [f.type for f in case.reports[m.name].detected]
                    rows.append(row)
                    print(
                        f"{modality} {vol.name} {case.label:<40} {m.name:<16} "
                        f"PSNRm {row['psnr_mask']:6.2f} (in {inp['psnr_mask']:.2f}) "
                        f"{row['cpu_s']:6.2f} CPU s",
                        file=sys.stderr,
                        flush=True,
                    )
    result = {
        "environment": common.environment(sys.argv if not args.argv else args.argv),
        "runtime_s": time.perf_counter() - t0,
        "quick": args.quick,
        "models": status,
        "tuned": TUNED,
        "metric": {
            "CT": "clip to [-1000, 1000] HU, data_range 2000; mask clean > -500 HU",
            "MR": "data_range = clean p99.5 (unclipped); mask clean > 10 % of p99.5",
            "ssim": "skimage structural_similarity 3-D, 7x7x7 uniform window",
        },
        "rows": rows,
    }
    env = result["environment"]
    result["runs"] = [{**env, "modalities": list(args.modality), "runtime_s": result["runtime_s"]}]
    old_path = args.out / "quality.json"
    if args.merge and old_path.exists():
        # keep the other modalities' rows so each modality can run in its own ~10 min
        old = json.loads(old_path.read_text())
        kept = [r for r in old["rows"] if r["modality"] not in args.modality]
        result["rows"] = kept + rows
        result["models"] = {**old.get("models", {}), **status}
        prev = [r for r in old.get("runs", []) if set(r["modalities"]) - set(args.modality)]
        result["runs"] = prev + result["runs"]
        result["runtime_s"] = sum(r["runtime_s"] for r in result["runs"])
    result["summary"] = summarise(result["rows"])
    return result


def _mean(v: list[float]) -> float:
    return float(np.mean(v)) if v else float("nan")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per modality and type: mean masked PSNR/SSIM per method, gains, best classical."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[(r["modality"], r["type"], r["method"])].append(r)
    kinds = {(r["modality"], r["type"]): r["kind"] for r in rows}
    inputs = {(r["modality"], r["volume"], r["case"]): r for r in rows if r["method"] == "input"}
    out: dict[str, Any] = {}
    for (mod, typ), kind in kinds.items():
        meths = sorted({k[2] for k in by if k[:2] == (mod, typ)})
        entry: dict[str, Any] = {"kind": kind, "methods": {}}
        for m in meths:
            rs = by[(mod, typ, m)]
            gains = [
                r["psnr_mask"] - inputs[(mod, r["volume"], r["case"])]["psnr_mask"] for r in rs
            ]
            entry["methods"][m] = {
                "psnr_mask": _mean([r["psnr_mask"] for r in rs]),
                "psnr": _mean([r["psnr"] for r in rs]),
                "ssim_mask": _mean([r["ssim_mask"] for r in rs]),
                "gain_db": _mean(gains),
                "time_s": _mean([r["time_s"] for r in rs]),
                "cpu_s": _mean([r["cpu_s"] for r in rs]),
                "peak_mb": _mean([r["peak_mb"] for r in rs]),
                "n": len(rs),
            }
        ms = entry["methods"]
        # the best classical option includes doing nothing (a user can keep the input);
        # compared on the cases every classical method ran on would drop BM4D's few cases,
        # so each method's own mean is used (BM4D runs on the noise types only)
        cands = {m: v["gain_db"] for m, v in ms.items() if m not in (DCPT, NOPRT)}
        best = max(cands, key=lambda m: cands[m])
        entry["best_classical"] = best
        entry["best_classical_gain_db"] = cands[best]
        if DCPT in ms:
            entry["dcpt_vs_best_classical_db"] = ms[DCPT]["gain_db"] - cands[best]
        if DCPT in ms and NOPRT in ms:
            entry["pretraining_delta_db"] = ms[DCPT]["gain_db"] - ms[NOPRT]["gain_db"]
        out[f"{mod}/{typ}"] = entry
    totals: dict[str, Any] = {}
    for mod in sorted({k.split("/")[0] for k in out}):
        singles = [v for k, v in out.items() if k.startswith(mod + "/") and v["kind"] == "single"]
        mixes = [v for k, v in out.items() if k.startswith(mod + "/") and v["kind"] == "mixture"]
        t: dict[str, Any] = {}
        for label, group in (("single", singles), ("mixture", mixes)):
            vs = [v["dcpt_vs_best_classical_db"] for v in group if "dcpt_vs_best_classical_db" in v]
            pre = [v["pretraining_delta_db"] for v in group if "pretraining_delta_db" in v]
            worse = [
                k
                for k, v in out.items()
                if k.startswith(mod + "/")
                and v["kind"] == label
                and DCPT in v["methods"]
                and v["methods"][DCPT]["gain_db"] < 0
            ]
            t[label] = {
                "mean_gain_over_best_classical_db": _mean(vs),
                "mean_pretraining_delta_db": _mean(pre),
                "types_where_dcpt_worse_than_input": worse,
            }
        # BM4D against napari-dcpt on exactly the cases BM4D ran on (same volumes)
        bm = {
            (r["volume"], r["case"]): r["cpu_s"]
            for r in rows
            if r["modality"] == mod and r["method"] == "bm4d"
        }
        dc = {
            (r["volume"], r["case"]): r["cpu_s"]
            for r in rows
            if r["modality"] == mod and r["method"] == DCPT and (r["volume"], r["case"]) in bm
        }
        if dc:
            ratios = [bm[k] / dc[k] for k in dc]
            t["bm4d_over_dcpt_time"] = {
                "median": float(np.median(ratios)),
                "n": len(ratios),
                "cases": [f"{v}/{c}" for v, c in dc],
            }
        totals[mod] = t
    return {"per_type": out, "totals": totals}


# -- report -------------------------------------------------------------------------------


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None or not np.isfinite(v) else fmt.format(v)


def headline_table(result: dict[str, Any]) -> str:
    """Markdown: per type, input PSNR and the gain of each contender."""
    s = result["summary"]["per_type"]
    lines = [
        "| modality | degradation | input PSNR (mask) | napari-dcpt gain | no-pretraining "
        "gain | best classical (gain) | dcpt - best classical | dcpt SSIM (mask) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(
        s, key=lambda k: (k.split("/")[0], s[k]["kind"] != "clean", s[k]["kind"] == "mixture", k)
    ):
        v = s[key]
        mod, typ = key.split("/", 1)
        ms = v["methods"]
        d, n = ms.get(DCPT), ms.get(NOPRT)
        if v["kind"] == "clean":  # no gain to measure: show each output's PSNR vs the clean
            best = max(
                (m for m in ms if m not in ("input", DCPT, NOPRT)),
                key=lambda m: ms[m]["psnr_mask"],
                default=None,
            )
            lines.append(
                f"| {mod} | clean input (output PSNR, higher = less harm) | - | "
                f"{_f(d['psnr_mask'] if d else None)} dB | "
                f"{_f(n['psnr_mask'] if n else None) + ' dB' if n else 'pending'} | "
                f"{best} ({_f(ms[best]['psnr_mask'] if best else None)} dB) | - | "
                f"{_f(d['ssim_mask'] if d else None, '{:.3f}')} |"
            )
            continue
        lines.append(
            f"| {mod} | {typ}{' (mix)' if v['kind'] == 'mixture' else ''} | "
            f"{_f(ms['input']['psnr_mask'])} | {_f(d['gain_db'] if d else None, '{:+.2f}')} | "
            f"{_f(n['gain_db'], '{:+.2f}') if n else 'pending'} | "
            f"{v['best_classical']} ({_f(v['best_classical_gain_db'], '{:+.2f}')}) | "
            f"{_f(v.get('dcpt_vs_best_classical_db'), '{:+.2f}')} | "
            f"{_f(d['ssim_mask'] if d else None, '{:.3f}')} |"
        )
    return "\n".join(lines)


def method_table(result: dict[str, Any]) -> str:
    """Markdown: per modality and method, mean gain, SSIM, time and memory per call."""
    agg: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    inputs = {
        (r["modality"], r["volume"], r["case"]): r for r in result["rows"] if r["method"] == "input"
    }
    for r in result["rows"]:
        if r["method"] != "input" and r["kind"] != "clean":  # a clean input has no gain
            agg[(r["modality"], r["method"])].append(r)
    lines = [
        "| modality | method | degraded cases | mean PSNR gain (mask, dB) | mean SSIM (mask) | "
        "median CPU time (s) | median peak RSS growth (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (mod, m), rs in sorted(agg.items()):
        g = [r["psnr_mask"] - inputs[(mod, r["volume"], r["case"])]["psnr_mask"] for r in rs]
        lines.append(
            f"| {mod} | {m} | {len(rs)} | {np.mean(g):+.2f} | "
            f"{np.mean([r['ssim_mask'] for r in rs]):.3f} | "
            f"{np.median([r['cpu_s'] for r in rs]):.2f} | "
            f"{np.median([r['peak_mb'] for r in rs]):.0f} |"
        )
    return "\n".join(lines)


def case_table(result: dict[str, Any]) -> str:
    """Markdown: every case x method (masked PSNR / SSIM, time)."""
    lines = [
        "| modality | volume | case | method | PSNR | PSNR (mask) | SSIM (mask) | CPU s "
        "| peak MB | detected |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['modality']} | {r['volume']} | {r['case']} | {r['method']} | "
            f"{r['psnr']:.2f} | {r['psnr_mask']:.2f} | {r['ssim_mask']:.3f} | "
            f"{r['cpu_s']:.2f} | {r['peak_mb']:.0f} | "
            f"{', '.join(r.get('detected', [])) if 'detected' in r else ''} |"
        )
    return "\n".join(lines)


def totals_text(result: dict[str, Any]) -> str:
    """The target lines: average gain over best classical, pre-training delta."""
    out = []
    for mod, t in result["summary"]["totals"].items():
        if "bm4d_over_dcpt_time" in t:
            b = t["bm4d_over_dcpt_time"]
            out.append(
                f"- {mod}: BM4D took {b['median']:.0f}x napari-dcpt's CPU time (median "
                f"over the {b['n']} noise cases both ran on; target >= 10x)"
            )
        for label in ("single", "mixture"):
            v = t[label]
            out.append(
                f"- {mod} {label}: napari-dcpt minus best classical (incl. doing nothing) "
                f"{_f(v['mean_gain_over_best_classical_db'], '{:+.2f}')} dB on average over "
                f"types; pre-training minus no pre-training "
                f"{_f(v['mean_pretraining_delta_db'], '{:+.2f}')} dB; types where napari-dcpt "
                f"is worse than the input: {', '.join(v['types_where_dcpt_worse_than_input']) or 'none'}"
            )
    return "\n".join(out)


def plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """PSNR gain per type per method (bars) and quality against time (scatter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summary"]["per_type"]
    paths = []
    mods = sorted({k.split("/")[0] for k in s})
    fig, axes = plt.subplots(len(mods), 1, figsize=(12, 4 * len(mods)), squeeze=False)
    for ax, mod in zip(axes[:, 0], mods):
        # a clean input has no gain to plot (its harm is in the headline table)
        keys = [k for k in sorted(s) if k.startswith(mod + "/") and s[k]["kind"] != "clean"]
        meths = sorted(
            {m for k in keys for m in s[k]["methods"] if m != "input"},
            key=lambda m: (m not in (DCPT, NOPRT), m),
        )
        w = 0.8 / max(1, len(meths))
        for i, m in enumerate(meths):
            ys = [s[k]["methods"].get(m, {}).get("gain_db", np.nan) for k in keys]
            ax.bar(np.arange(len(keys)) + i * w, ys, w, label=m)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(np.arange(len(keys)) + 0.4 - w / 2)
        ax.set_xticklabels([k.split("/", 1)[1] for k in keys], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("PSNR gain over input (dB, mask)")
        ax.set_title(f"{mod}: mean over severities and volumes")
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.tight_layout()
    p = out_dir / "quality_gain.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths.append(p)

    fig, axes = plt.subplots(1, len(mods), figsize=(6 * len(mods), 4), squeeze=False)
    inputs = {
        (r["modality"], r["volume"], r["case"]): r for r in result["rows"] if r["method"] == "input"
    }
    for ax, mod in zip(axes[0], mods):
        agg: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in result["rows"]:
            if r["modality"] == mod and r["method"] != "input" and r["kind"] != "clean":
                g = r["psnr_mask"] - inputs[(mod, r["volume"], r["case"])]["psnr_mask"]
                agg[r["method"]].append((r["cpu_s"], g))
        for m, v in sorted(agg.items()):
            a = np.array(v)
            ax.scatter(np.median(a[:, 0]), a[:, 1].mean(), s=40, label=m)
            ax.annotate(m, (np.median(a[:, 0]), a[:, 1].mean()), fontsize=7)
        ax.set_xscale("log")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("median CPU time per volume (s, log)")
        ax.set_ylabel("mean PSNR gain (dB, mask, all cases it ran on)")
        ax.set_title(f"{mod}: quality against time")
    fig.tight_layout()
    p = out_dir / "quality_vs_time.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths.append(p)
    return paths


def runs_text(result: dict[str, Any]) -> str:
    """One line per command that produced the rows (command, date, machine, runtime)."""
    return "\n".join(
        f"- `{r['command']}` ({', '.join(r['modalities'])}): {r['date_utc']}, {r['machine']}"
        f"{'; ' + r['note'] if r.get('note') else ''}; {r['runtime_s'] / 60:.1f} min"
        for r in result.get("runs", [])
    )


def write_report(result: dict[str, Any], out_dir: Path) -> None:
    """quality.json, quality.md and the plots."""
    common.write_json(out_dir / "quality.json", result)
    md = [
        "# Quality benchmark",
        "",
        runs_text(result),
        "",
        f"Models: {result['models']}",
        "",
        "PSNR gains are over the degraded input, inside "
        "the foreground mask, averaged over severities and volumes.",
        "",
        totals_text(result),
        "",
        headline_table(result),
        "",
        "## Per method",
        "",
        method_table(result),
        "",
        "## Every case",
        "",
        case_table(result),
        "",
    ]
    (out_dir / "quality.md").write_text("\n".join(md))
    plots(result, out_dir)


def main(argv: list[str]) -> None:
    """``python -m benchmarks quality [--quick] [--modality MR CT] ...``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks quality", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="mild/severe only, fewer methods")
    ap.add_argument("--modality", nargs="+", default=["MR", "CT"], choices=["MR", "CT"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads for napari-dcpt")
    ap.add_argument("--no-bm4d", action="store_true", help="skip BM4D even if installed")
    ap.add_argument(
        "--bm4d-all",
        action="store_true",
        help="BM4D on every case (default: single noise cases; it is slow)",
    )
    ap.add_argument("--max-cases", type=int, default=0, help="stop after N cases (debugging)")
    ap.add_argument(
        "--no-reuse",
        dest="reuse",
        action="store_false",
        help="recompute classical results even if runs/bench_cache/rows has them",
    )
    ap.add_argument(
        "--classical-only", action="store_true", help="skip the networks (fills the cache)"
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the other modalities' rows of an existing quality.json",
    )
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    add_model_args(ap)
    args = ap.parse_args(argv)
    args.argv = ["python", "-m", "benchmarks", "quality", *argv]
    args.out = resolve_out(args)
    result = run_quality(args)
    write_report(result, args.out)
    print(totals_text(result))
    print(
        f"wrote {args.out}/quality.json, quality.md, quality_gain.png, quality_vs_time.png "
        f"in {result['runtime_s'] / 60:.1f} min"
    )
