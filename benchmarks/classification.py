"""Classification benchmark: does `classify()` name what is wrong with a held-out scan?

Single degradations: top-1 over the non-clean types (and severity when the type is
right), a confusion matrix per modality and accuracy per severity. Mixtures:
multi-label exact match and partial match (Jaccard, recall) of the detected set
(probability >= 0.5). Clean inputs: correct when nothing is detected. Writes
``classify.json`` and ``classify.md`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.quality import (
    DCPT,
    NOPRT,
    add_model_args,
    model_paths,
    resolve_out,
    runs_text,
)
from napari_dcpt.degradations import sample_record, vocabulary


def _records(modality: str, seeds: int) -> list[tuple[str, Any]]:
    recs = []
    for s in range(seeds):
        recs += common.case_records(
            modality, quick=False, seed0=20_000 * s, mixtures=True, clean=True
        )
        # random mixtures of 2-3 types at random severities, as the simulator draws them
        for j in range(4):
            rec = sample_record(modality, 40_000 + 100 * s + j, p_clean=0.0, p_mix=1.0, max_types=3)
            recs.append(("mixture", rec))
    return recs


def evaluate(rows: list[dict[str, Any]], vocab: tuple[str, ...]) -> dict[str, Any]:
    """Accuracies and the confusion matrix of one model on one modality."""
    types = list(vocab[1:])
    single = [r for r in rows if r["kind"] == "single"]
    conf = np.zeros((len(types), len(types)), int)
    for r in single:
        conf[types.index(r["true"][0]), types.index(r["top1"])] += 1
    by_sev: dict[str, list[bool]] = defaultdict(list)
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in single:
        ok = r["top1"] == r["true"][0]
        by_sev[r["true_severity"][0]].append(ok)
        by_type[r["true"][0]].append(ok)
    sev_ok = [
        r["severity_pred"] == r["true_severity"][0] for r in single if r["top1"] == r["true"][0]
    ]
    mixes = [r for r in rows if r["kind"] == "mixture"]
    jac, rec, exact = [], [], []
    for r in mixes:
        t, d = set(r["true"]), set(r["detected"])
        exact.append(t == d)
        jac.append(len(t & d) / len(t | d) if t | d else 1.0)
        rec.append(len(t & d) / len(t))
    clean = [r for r in rows if r["kind"] == "clean"]

    def acc(v: list[bool]) -> float | None:
        return float(np.mean(v)) if v else None

    return {
        "single_top1": acc([r["top1"] == r["true"][0] for r in single]),
        "single_detected_exact": acc([set(r["detected"]) == set(r["true"]) for r in single]),
        "severity_given_type": acc(sev_ok),
        "top1_by_severity": {k: acc(v) for k, v in by_sev.items()},
        "top1_by_type": {k: acc(v) for k, v in by_type.items()},
        "confusion": {"types": types, "matrix": conf.tolist()},
        "mixture_exact": acc(exact),
        "mixture_jaccard": acc(jac),
        "mixture_recall": acc(rec),
        "clean_correct": acc([not r["detected"] for r in clean]),
        "n": {"single": len(single), "mixture": len(mixes), "clean": len(clean)},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Classify every case with each available model; return the JSON-ready result."""
    import torch

    from napari_dcpt.inference import classify
    from napari_dcpt.volume import Volume

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"models": {}, "results": {}, "rows": []}
    for mod in args.modality:
        default, abl = model_paths(args, mod)
        models = {k: v for k, v in ((DCPT, default), (NOPRT, abl)) if v is not None}
        out["models"][mod] = {
            DCPT: str(default) if default else "pending",
            NOPRT: str(abl) if abl else "pending",
        }
        recs = _records(mod, args.seeds)
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for vol in common.heldout_volumes(mod, quick=args.quick):
            for kind, rec in recs:
                case = common.build_case(vol, kind, rec)
                v = Volume(case.degraded, vol.affine, mod, "HU" if mod == "CT" else "")
                for name, path in models.items():
                    rep = classify(v, model=path, device="cpu", threads=args.threads)
                    findings = list(rep.findings)  # most likely first, clean excluded
                    top = findings[0]
                    true_sev = list(rec.severities)
                    sev_pred = next((f.severity for f in findings if f.type == rec.types[0]), "")
                    row = {
                        "modality": mod,
                        "volume": vol.name,
                        "model": name,
                        "kind": kind,
                        "true": list(rec.types),
                        "true_severity": true_sev,
                        "top1": top.type,
                        "severity_pred": sev_pred,
                        "detected": [f.type for f in rep.detected],
                        "clean_probability": rep.clean_probability,
                        "probabilities": {f.type: round(f.probability, 4) for f in findings},
                    }
                    rows[name].append(row)
                    out["rows"].append(row)
                print(
                    f"{mod} {vol.name} {case.label:<45} "
                    + "; ".join(f"{n}: {rows[n][-1]['detected']}" for n in models),
                    file=sys.stderr,
                    flush=True,
                )
        for name, rs in rows.items():
            out["results"].setdefault(mod, {})[name] = evaluate(rs, vocabulary(mod))
    out["runtime_s"] = time.perf_counter() - t0
    out["environment"] = common.environment(args.argv)
    out["runs"] = [
        {**out["environment"], "modalities": list(args.modality), "runtime_s": out["runtime_s"]}
    ]
    return out


def runs_of(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs behind a result; a file from before ``runs`` existed had one, over its
    modalities."""
    return res.get("runs") or [
        {
            **res.get("environment", {}),
            "modalities": sorted(res.get("models", {})),
            "runtime_s": res.get("runtime_s", 0.0),
        }
    ]


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the rows, results and models of ``old``'s other modalities kept.

    Each run is listed under ``runs`` (command, date, modalities, runtime) so that a
    merged file still says how each of its modalities was measured.
    """
    mods = set(new["results"]) | set(new["models"])
    old_runs = runs_of(old)
    out = dict(new)
    out["rows"] = [r for r in old.get("rows", []) if r["modality"] not in mods] + new["rows"]
    out["results"] = {
        **{m: r for m, r in old.get("results", {}).items() if m not in mods},
        **new["results"],
    }
    out["models"] = {
        **{m: r for m, r in old.get("models", {}).items() if m not in mods},
        **new["models"],
    }
    # an older run stays listed for the modalities whose rows it still holds
    kept = [
        {**r, "modalities": [m for m in r["modalities"] if m not in mods]}
        for r in old_runs
        if set(r["modalities"]) - mods
    ]
    out["runs"] = kept + new["runs"]
    out["runtime_s"] = sum(r["runtime_s"] for r in out["runs"])
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def report(res: dict[str, Any]) -> str:
    """Markdown summary table plus one confusion matrix per modality and model."""
    lines = [
        "| modality | model | single top-1 | severity (type right) | mixtures exact | "
        "mixtures Jaccard | mixtures recall | clean -> clean | cases (single/mix/clean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mod, per in res["results"].items():
        for name, r in per.items():
            n = r["n"]
            lines.append(
                f"| {mod} | {name} | {_pct(r['single_top1'])} | "
                f"{_pct(r['severity_given_type'])} | {_pct(r['mixture_exact'])} | "
                f"{_pct(r['mixture_jaccard'])} | {_pct(r['mixture_recall'])} | "
                f"{_pct(r['clean_correct'])} | {n['single']}/{n['mixture']}/"
                f"{n['clean']} |"
            )
    for mod, per in res["results"].items():
        for name, r in per.items():
            types = r["confusion"]["types"]
            lines += [
                "",
                f"**{mod}, {name}: confusion (rows true, columns top-1), top-1 by "
                "severity "
                + ", ".join(f"{k} {_pct(v)}" for k, v in sorted(r["top1_by_severity"].items()))
                + "**",
                "",
                "| true \\ predicted | " + " | ".join(types) + " |",
                "|---" * (len(types) + 1) + "|",
            ]
            for t, row in zip(types, r["confusion"]["matrix"]):
                lines.append(f"| {t} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """``python -m benchmarks classify [--quick] [--seeds 2]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks classify", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="first held-out volume only")
    ap.add_argument("--seeds", type=int, default=2, help="draws per type x severity")
    ap.add_argument("--modality", nargs="+", default=["MR", "CT"], choices=["MR", "CT"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the other modalities' rows of an existing classify.json",
    )
    ap.add_argument("--out", type=common.Path, default=common.RESULTS)
    add_model_args(ap)
    args = ap.parse_args(argv)
    args.out = resolve_out(args)
    args.argv = ["python", "-m", "benchmarks", "classify", *argv]
    res = run(args)
    old_path = args.out / "classify.json"
    if args.merge and old_path.exists():
        res = merge(json.loads(old_path.read_text()), res)
    common.write_json(old_path, res)
    md = [
        "# Classification benchmark",
        "",
        runs_text(res),
        "",
        f"Models: {res['models']}",
        "",
        report(res),
        "",
    ]
    (args.out / "classify.md").write_text("\n".join(md))
    print(report(res))
