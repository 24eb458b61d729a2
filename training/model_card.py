"""Assemble `weights/MODEL_CARD.md` and learning-curve PNGs from finished runs.

    python -m training.model_card [--runs training/records] [--out src/napari_dcpt/weights]

Reads, per modality, ``<runs>/<mod>_{pre,ft,abl,head,...}/metrics.jsonl`` (validation
during training) and ``config.yaml``, ``<runs>/<mod>_{ft,abl,head,...}/eval/eval.json``
(`python -m training evaluate`; the head refit's, when there is one, is the shipped
model's) and ``<runs>/<mod>_times.txt`` (wall times). Every number in the card comes
from those files; nothing is typed in by hand except ``<runs>/NOTES.md``, the dated
observations appended as the card's history. The default ``training/records`` is the
committed copy of those small files (training/records/README.md says which were
reconstructed after their machine was lost)."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# Further fine-tuning runs from the previous one's weights, in the order they ran:
# ``<runs>/<mod>_<name>``. Their steps count on after the first fine-tuning's.
# The runs after the first fine-tuning (`<mod>_ft`), in the order they made the shipped
# files; a name ending in "head" is a classifier head refit of the run before it, every
# other one a fine-tuning continued from the previous run's weights. Each maps to the
# step of the run at which the shipped file was taken (`python -m training finetune
# --until step`; the card reads the run only up to there), or None: its end.
CHAIN: dict[str, int | None] = {
    "cont": None,
    "psnr": None,
    "floor": None,
    "floor60": None,
    "long": None,
    "long2": None,
    "long3": 10500,
    "long4": None,
    "head": None,
    "fov_head": None,
}
CONTINUATIONS = tuple(c for c in CHAIN if not c.endswith("head"))


def _stop(name: str) -> int | None:
    """The step of run ``<mod>_<c>`` at which the shipped file was taken (None: its end).

    The ablation's continuation ``<mod>_abl_<c>`` stops where ``<mod>_<c>`` did.
    """
    return CHAIN.get(name.partition("_")[2].removeprefix("abl_"))


def _to_stop(name: str, ms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points of run ``name`` up to the step its shipped file was taken at."""
    stop = _stop(name)
    return ms if stop is None else [m for m in ms if m["step"] <= stop]


def continuations(runs: Path, mod: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(run name, validation metrics)`` of each continuation run present, in order.

    A run whose config is kept but whose metrics were lost is present with no metrics.
    """
    names = [f"{mod}_{c}" for c in CONTINUATIONS]
    return [
        (n, _to_stop(n, _jsonl(runs / n / "metrics.jsonl")))
        for n in names
        if (runs / n / "metrics.jsonl").is_file() or (runs / n / "config.yaml").is_file()
    ]


def _run_config(runs: Path, name: str) -> dict[str, Any] | None:
    path = runs / name / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _steps(runs: Path, name: str, ms: list[dict[str, Any]]) -> int | None:
    """Fine-tuning steps of a run: its configured ones (or where the shipped file was taken,
    `CHAIN`), else its last logged step."""
    cfg = _run_config(runs, name)
    if cfg is not None:
        planned = int(cfg["finetune"]["steps"])
        return min(planned, _stop(name) or planned)
    return int(ms[-1]["step"]) if ms else None


def _single_rows(ev: dict[str, Any]) -> dict[tuple[str, str], float]:
    """Restored PSNR (dB) of an evaluation's single-type rows (those with a severity), by
    (condition, severity)."""
    return {
        (r["condition"], r["severity"]): r["psnr_restored"] for r in ev["rows"] if r["severity"]
    }


def _mean_single(ev: dict[str, Any]) -> float:
    """Mean restored PSNR (dB) over an evaluation's single-type rows."""
    return float(np.mean(list(_single_rows(ev).values())))


def _single_differences(ev: dict[str, Any], abl: dict[str, Any]) -> list[float]:
    """Restored PSNR (dB) of ``ev`` minus ``abl`` on each single-type row, paired by
    (condition, severity).

    Raises
    ------
    ValueError
        The two evaluations do not hold the same single-type rows (different registries
        or evaluation settings), so they cannot be paired.
    """
    a, b = _single_rows(ev), _single_rows(abl)
    if a.keys() != b.keys():
        raise ValueError(f"unpaired single-type rows: {sorted(a.keys() ^ b.keys())}")
    return [a[k] - b[k] for k in a]


def _ablation_of(mod: str, run: str) -> str:
    """The no-pre-training run paired with pre-trained ``run``: ``<mod>_abl`` for the
    first fine-tuning ``<mod>_ft``, else ``<mod>_abl_<stage>`` for ``<mod>_<stage>``."""
    return f"{mod}_abl" if run == f"{mod}_ft" else run.replace(f"{mod}_", f"{mod}_abl_", 1)


def _chain_budgets(runs: Path, mod: str) -> list[tuple[str, str, int, int]]:
    """``(pre-trained run, its ablation run, total steps before, after)`` of each stage.

    The first fine-tuning (``<mod>_ft`` against ``<mod>_abl``, the same pre-training plus
    fine-tuning steps from random initialisation), then each continuation ``<mod>_<c>``
    present, paired with ``<mod>_abl_<c>``: the ablation taken through the same config
    from its previous export. Head refits add no steps and are skipped.

    Raises
    ------
    ValueError
        An ablation continuation ran a different number of steps from the pre-trained
        one, so the pair would not compare equal budgets.
    """
    ft = _run_config(runs, f"{mod}_ft")
    if ft is None or "pretrain" not in ft or "finetune" not in ft:
        return []  # the first budget is unknown, so no later one is either
    total = int(ft["pretrain"]["steps"]) + int(ft["finetune"]["steps"])
    out = [(f"{mod}_ft", _ablation_of(mod, f"{mod}_ft"), 0, total)]
    for name in (f"{mod}_{c}" for c in CONTINUATIONS):
        abl_name = _ablation_of(mod, name)
        if _run_config(runs, name) is None and not (runs / name).is_dir():
            continue  # not part of this modality's chain
        steps = _steps(runs, name, _jsonl(runs / name / "metrics.jsonl"))
        if steps is None:
            break  # the budget from here on is unknown
        abl_steps = _steps(runs, abl_name, [])  # its config's (None: not run yet)
        if abl_steps is not None and abl_steps != steps:
            raise ValueError(f"{abl_name}: {abl_steps} steps where {name} ran {steps}")
        out.append((name, abl_name, total, total + steps))
        total += steps
    return out


def ablation_budgets(runs: Path, mod: str) -> list[tuple[str, str, int, float, float, int, int]]:
    """DCPT pre-training against none at every budget at which both were evaluated.

    Rows ``(pre-trained run, ablation run, total steps, mean restored PSNR with
    pre-training, without, rows where pre-training is ahead, single-type rows)`` over the
    single-type rows of ``evaluate``, for the stages of `_chain_budgets` that both have
    an evaluation of. The count says whether a mean difference is broad or carried by a
    few types.
    """
    rows = []
    for name, abl_name, _, total in _chain_budgets(runs, mod):
        ev, abl = _json(runs / name / "eval/eval.json"), _json(runs / abl_name / "eval/eval.json")
        if ev is not None and abl is not None:
            diff = _single_differences(ev, abl)
            ahead = sum(d > 0 for d in diff)
            rows.append(
                (name, abl_name, total, _mean_single(ev), _mean_single(abl), ahead, len(diff))
            )
    return rows


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def top1_single(ev: dict[str, Any]) -> float:
    """Top-1 (argmax) accuracy over single-degradation samples (clean row excluded)."""
    conf = np.asarray(ev["confusion"])
    sub = conf[1:]  # rows of the non-clean types
    return float(np.trace(conf[1:, 1:]) / max(sub.sum(), 1))


SampleSets = dict[str, tuple[float, list[tuple[int, int]]]]


def _sample_sets(logged: list[list[dict[str, Any]]], offset: int) -> SampleSets:
    """Validation sample sets of the fine-tuning runs: name -> (degraded PSNR, spans of
    total steps of the runs validated on it). Runs share fixed samples unless the
    simulator changed between them (``samples`` of `fine_tuning_runs`)."""
    sets: SampleSets = {}
    for ms in logged:
        for name in dict.fromkeys(m["samples"] for m in ms):
            part = [m for m in ms if m["samples"] == name]
            span = (part[0]["step"] + offset, part[-1]["step"] + offset)
            sets.setdefault(name, (part[-1]["psnr_degraded"], []))[1].append(span)
    return sets


def _ablation_series(
    runs: Path, mod: str, sets: SampleSets
) -> list[tuple[str, str, list[dict[str, Any]], int]]:
    """``(pre-trained twin, label, metrics, total steps before)`` of each ablation
    continuation logged.

    Each is placed on the sample set whose degraded PSNR its validation shares (the
    same samples give the same degraded input to the bit), else on a set of its own,
    and its span is added to ``sets`` so that the plot draws that degraded level there.
    """
    found = []
    for twin, abl_name, before, _ in _chain_budgets(runs, mod)[1:]:
        ms = _jsonl(runs / abl_name / "metrics.jsonl")
        if not ms:
            continue
        level = ms[-1]["psnr_degraded"]
        name = next((n for n, (d, _) in sets.items() if abs(d - level) < 1e-9), abl_name)
        sets.setdefault(name, (level, []))[1].append(
            (ms[0]["step"] + before, ms[-1]["step"] + before)
        )
        found.append((twin, abl_name, name, ms, before))
    return [
        (t, f"ablation continued ({a}" + (f", {n}'s samples)" if len(sets) > 1 else ")"), ms, b)
        for t, a, n, ms, b in found
    ]


def plot_curves(runs: Path, mod: str, out: Path) -> Path:
    """Validation PSNR (restored vs degraded) and accuracy against step, per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    pre = _jsonl(runs / f"{mod}_pre/metrics.jsonl")
    ft_cfg = _run_config(runs, f"{mod}_ft")
    # fine-tuning starts where pre-training ended (its configured steps if its log is lost)
    offset = max(m["step"] for m in pre) if pre else ft_cfg["pretrain"]["steps"] if ft_cfg else 0
    tuned = dict(fine_tuning_runs(runs, mod))
    logged = [ms for ms in tuned.values() if ms]
    # (label, metrics, line style, steps before, run whose colour it takes): each
    # ablation stage is drawn dashed in the colour of its pre-trained twin
    series = [("pre-training", pre, "-", 0, f"{mod}_pre")]
    for name, ms in tuned.items():
        label = "fine-tuning" if name == f"{mod}_ft" else f"fine-tuning continued ({name})"
        series.append((label, ms, "-", offset, name))
    abl = _jsonl(runs / f"{mod}_abl/metrics.jsonl")
    series.append(("ablation (no pre-training)", abl, "--", 0, f"{mod}_ft"))
    sets = _sample_sets(logged, offset)
    series += [(lab, ms, "--", b, t) for t, lab, ms, b in _ablation_series(runs, mod, sets)]
    drawn = [s for s in series if s[1]]
    palette = plt.get_cmap("tab10").colors
    colour = {
        run: palette[i % len(palette)] for i, run in enumerate(dict.fromkeys(s[4] for s in drawn))
    }
    for stage, ms, style, off, run in drawn:
        steps = [m["step"] + off for m in ms]
        restored = [m["psnr_restored"] for m in ms]
        axes[0].plot(steps, restored, style, color=colour[run], label=f"{stage}: restored")
        acc = [(st, m["acc_exact"]) for st, m in zip(steps, ms) if "acc_exact" in m]
        if acc:  # a revalidated start point (`<run>_start.jsonl`) has PSNR only
            axes[1].plot(*zip(*acc), style, color=colour[run], label=stage)
    recomputed = revalidated(runs, mod)
    if recomputed and tuned:
        axes[0].plot(
            [m["step"] + offset for m in recomputed],
            [m["psnr_restored"] for m in recomputed],
            "o",
            mfc="none",
            label="recomputed from shipped files",
        )
    for i, (name, (level, spans)) in enumerate(sets.items()):
        axes[0].hlines(
            [level] * len(spans),
            [lo for lo, _ in spans],
            [hi for _, hi in spans],
            color="grey",
            lw=0.8,
            label="degraded input" + (f" ({name}'s samples)" if len(sets) > 1 else ""),
            linestyles="-" if i % 2 == 0 else ":",
        )
    axes[0].set_xlabel("step (fine-tuning continues after pre-training)")
    axes[0].set_ylabel("validation PSNR (dB)")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("exact multi-label accuracy")
    fig.suptitle(f"{mod.upper()} model: validation during training")
    fig.tight_layout()
    for ax in axes:  # below each panel: inside, a dozen entries hid the curves
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a run without a curve here has no entries
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False)
    path = out / f"{mod}_learning_curves.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def _table(ev: dict[str, Any], abl: dict[str, Any] | None) -> list[str]:
    head = (
        "| condition | severity | PSNR in | PSNR out | SSIM in | SSIM out | exact acc |"
        " severity acc | ablation PSNR out |"
    )
    lines = [head, "|" + "---|" * 9]
    abl_rows = {(r["condition"], r["severity"]): r for r in (abl or {}).get("rows", [])}
    for r in ev["rows"]:
        a = abl_rows.get((r["condition"], r["severity"]))
        sev_acc = r.get("acc_severity")
        lines.append(
            f"| {r['condition']} | {r['severity'] or '-'} | {r['psnr_degraded']:.2f} | "
            f"{r['psnr_restored']:.2f} | {r['ssim_degraded']:.3f} | {r['ssim_restored']:.3f} | "
            f"{r['acc_exact']:.2f} | {'-' if sev_acc is None else f'{sev_acc:.2f}'} | "
            f"{'-' if a is None else format(a['psnr_restored'], '.2f')} |"
        )
    return lines


def fine_tuning_runs(runs: Path, mod: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The first fine-tuning and its continuations (`CONTINUATIONS`) that are present,
    each continuation's steps counted on from the end of the previous run (its
    configured steps, so that a run whose metrics were lost still counts). Empty when
    the first fine-tuning's length is unknown: the offsets would be wrong.

    Every point carries ``samples``: the run whose validation samples it was measured
    on. Runs share their predecessor's samples unless the simulator changed between
    them; such a run keeps ``<runs>/<run>_start.jsonl``, the file it started from
    revalidated on its own samples, which becomes its first point (at its offset).
    """
    ft = _jsonl(runs / f"{mod}_ft/metrics.jsonl")
    last = _steps(runs, f"{mod}_ft", ft)
    if last is None:
        return []
    samples = f"{mod}_ft"
    out = [(f"{mod}_ft", [{**m, "samples": samples} for m in ft])]
    for name, ms in continuations(runs, mod):
        start = _jsonl(runs / f"{name}_start.jsonl")
        if start:
            samples = name
        shifted = [{**m, "step": m["step"] + last, "samples": samples} for m in ms]
        out.append((name, [{**m, "step": last, "samples": samples} for m in start] + shifted))
        last += _steps(runs, name, ms) or 0
    return out


def revalidated(runs: Path, mod: str) -> list[dict[str, Any]]:
    """Validation points recomputed from shipped files whose run's metrics were lost:
    ``<runs>/<mod>_revalidated.jsonl``, one row per file with its cumulative
    fine-tuning ``step`` (training/records/README.md says how they were made)."""
    return _jsonl(runs / f"{mod}_revalidated.jsonl")


def fine_tuning_curve(runs: Path, mod: str) -> list[dict[str, Any]]:
    """Validation of the whole fine-tuning (`fine_tuning_runs`, concatenated), so that
    the flatness bar reads all of it, not the last run alone. Recomputed points
    (`revalidated`) fill in steps that no kept log covers."""
    logged = [m for _, ms in fine_tuning_runs(runs, mod) for m in ms]
    if not logged:  # without the runs' offsets the recomputed steps cannot be placed
        return []
    have = {m["step"] for m in logged}
    # recomputed on the first fine-tuning's samples (training/records/revalidate.py)
    extra = [{**m, "samples": f"{mod}_ft"} for m in revalidated(runs, mod) if m["step"] not in have]
    return sorted(logged + extra, key=lambda m: m["step"])


def _comparable(ms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points measured on the same validation samples as the last one."""
    return [m for m in ms if m.get("samples") == ms[-1].get("samples")] if ms else []


def flatness(ms: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """Validation PSNR gained over the last doubling of steps: (from, to, dB).

    None when there is no validation point within 20 % of half the last step (lost
    records leave gaps): a shorter span would understate the gain. Only points on the
    last one's validation samples count (`fine_tuning_runs`).
    """
    ms = _comparable(ms)
    if len(ms) < 2:
        return None
    last = ms[-1]
    half = min(ms[:-1], key=lambda m: abs(m["step"] - last["step"] / 2))
    if abs(half["step"] - last["step"] / 2) > 0.2 * last["step"] / 2:
        return None
    return half["step"], last["step"], last["psnr_restored"] - half["psnr_restored"]


def gain_since_half(ms: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """Validation PSNR gained from the first point at or after half the last step to
    the last: (from, to, dB). A span shorter than a doubling, read where `flatness`
    finds no point near half; on a rising curve the doubling gained at least this."""
    ms = _comparable(ms)
    if len(ms) < 2:
        return None
    last = ms[-1]
    after = [m for m in ms[:-1] if m["step"] >= last["step"] / 2]
    if not after:
        return None
    return after[0]["step"], last["step"], last["psnr_restored"] - after[0]["psnr_restored"]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _bars(ev: dict[str, Any]) -> list[str]:
    rows = [r for r in ev["rows"] if r["condition"] not in ("clean", "mixed")]
    worse = [
        f"{r['condition']}/{r['severity']}"
        for r in rows
        if r["psnr_restored"] <= r["psnr_degraded"]
    ]
    clean = next(r for r in ev["rows"] if r["condition"] == "clean")
    acc = top1_single(ev)
    return [
        f"- restored PSNR above the degraded input for every type and severity: "
        f"{'met' if not worse else 'NOT met (' + ', '.join(worse) + ')'}",
        f"- clean input comes back at >= 40 dB against itself: "
        f"{_met(clean['psnr_restored'] >= 40)} ({clean['psnr_restored']:.1f} dB)",
        f"- mean top-1 accuracy on single degradations >= 90 %: "
        f"{_met(acc >= 0.9)} ({100 * acc:.0f} %)",
    ]


def _latest_run(result: dict[str, Any], key: str) -> dict[str, Any]:
    """The last run of a benchmark result file that measured modality ``key`` (a file
    written before runs were listed: its one environment)."""
    runs = [r for r in result.get("runs", []) if key in r["modalities"]]
    return max(runs, key=lambda r: r["date_utc"]) if runs else result.get("environment", {})


def shipped_quality(bench: Path, mod: str) -> dict[str, Any] | None:
    """The product as a user runs it: `restore()` with the calibrated strength on whole
    held-out volumes, from the benchmark results in ``bench`` (`python -m benchmarks
    quality` and `classify`; docs/benchmarks.md). Masked 3-D PSNR, each (type,
    severity) averaged over the held-out volumes. None without results for ``mod``.

    Returns ``worse`` (``"type/severity +x.xxx dB"`` for each cell at or below its
    input), ``cells``, ``clean`` (dB, or None), ``top1`` (0..1, or None), and where
    the numbers come from (``run``, ``weights``, ``classify_date``).
    """
    quality, classify = _json(bench / "quality.json"), _json(bench / "classify.json")
    key = mod.upper()
    if quality is None or key not in quality.get("models", {}):
        return None
    rows = [r for r in quality["rows"] if r["modality"] == key]
    inp = {(r["volume"], r["case"]): r["psnr_mask"] for r in rows if r["method"] == "input"}
    gains: dict[tuple[str, str], list[float]] = {}
    clean: list[float] = []
    for r in rows:
        if r["method"] != "napari-dcpt":
            continue
        if r["kind"] == "clean":
            clean.append(r["psnr_mask"])
        elif r["kind"] == "single":
            gain = r["psnr_mask"] - inp[(r["volume"], r["case"])]
            gains.setdefault((r["type"], r["severity"]), []).append(gain)
    run = _latest_run(quality, key)
    res = ((classify or {}).get("results", {}).get(key) or {}).get("napari-dcpt")
    return {
        "worse": [
            f"{t}/{sev} {np.mean(g):+.3f} dB"
            for (t, sev), g in sorted(gains.items())
            if np.mean(g) <= 0
        ],
        "cells": len(gains),
        "clean": float(np.mean(clean)) if clean else None,
        "top1": res["single_top1"] if res is not None else None,
        "run": run,
        "weights": Path(quality["models"][key]["napari-dcpt"]).name,
        "classify_date": _latest_run(classify or {}, key).get("date_utc"),
    }


def shipped_bars(bench: Path, mod: str) -> list[str]:
    """The quality bars of `shipped_quality`, as Markdown (empty without results)."""
    q = shipped_quality(bench, mod)
    if q is None:
        return []
    worse = q["worse"]
    lines = [
        "Quality bars as shipped (`restore()` with the calibrated strength, whole held-out "
        f"volumes; `python -m benchmarks quality` of {q['run']['date_utc']} at "
        f"{q['run']['git_commit']}, weights `{q['weights']}`):",
        "",
        f"- restored PSNR above the degraded input for every type and severity: "
        f"{'met' if not worse else 'NOT met (' + ', '.join(worse) + ')'}"
        f" ({q['cells']} type x severity cells)",
    ]
    if q["clean"] is not None:
        lines.append(
            f"- clean input comes back at >= 40 dB against itself: "
            f"{_met(q['clean'] >= 40)} ({q['clean']:.1f} dB)"
        )
    if q["top1"] is not None:
        lines.append(
            f"- mean top-1 accuracy on single degradations >= 90 %: "
            f"{_met(q['top1'] >= 0.9)} ({100 * q['top1']:.0f} %, "
            f"`python -m benchmarks classify` of {q['classify_date']})"
        )
    return [*lines, ""]


def curve_status(curve: list[dict[str, Any]]) -> tuple[bool | None, str, str]:
    """The flatness bar on a fine-tuning curve (`fine_tuning_curve`): (met, what was
    measured, why it reads that way, or ""); met is None when the records cannot tell."""
    flat = flatness(curve)
    if flat is not None:
        a, b, gain = flat
        return gain < 0.1, f"{gain:+.2f} dB from step {a} to {b}", ""
    part = gain_since_half(curve)
    if part is not None and part[2] >= 0.1:
        a, b, gain = part
        return (
            False,
            f"{gain:+.2f} dB from step {a} to {b} already, {b / a:.1f}x the steps",
            f"no validation point near step {b // 2}; a rising curve gains at least that "
            "over the doubling",
        )
    return None, "not measurable from the kept records", "no validation point near half"


def summary(runs: Path, bench: Path) -> list[str]:
    """The issue's four quality bars for both models, side by side: the first thing a
    reader of the card needs. The sections below hold the numbers behind each cell."""

    def cell(ok: bool | None, detail: str) -> str:
        return f"{'?' if ok is None else _met(ok)}: {detail}"

    cols: dict[str, list[str]] = {}
    for mod in ("mr", "ct"):
        q = shipped_quality(bench, mod)
        n_worse = len(q["worse"]) if q else 0
        curve_ok, curve_what, _ = curve_status(fine_tuning_curve(runs, mod))
        cols[mod] = [
            cell(None, "no benchmark results")
            if q is None
            else cell(not n_worse, f"{q['cells'] - n_worse} of {q['cells']} cells above"),
            cell(None, "not measured")
            if q is None or q["clean"] is None
            else cell(q["clean"] >= 40, f"{q['clean']:.1f} dB"),
            cell(None, "not measured")
            if q is None or q["top1"] is None
            else cell(q["top1"] >= 0.9, f"{100 * q['top1']:.0f} %"),
            cell(curve_ok, curve_what),
        ]
    names = [
        "restored PSNR above the degraded input, every type x severity",
        "a clean input comes back at >= 40 dB PSNR",
        "mean top-1 accuracy on single degradations >= 90 %",
        "validation curve flat (< 0.1 dB over the last doubling of fine-tuning steps)",
    ]
    return [
        "## At a glance: the quality bars",
        "",
        "The first three on whole held-out volumes as a user runs the product (`restore()` "
        "with its calibrated strength; `python -m benchmarks quality|classify`), the last on "
        "the validation patches during training. Each model's section has the numbers.",
        "",
        "| bar | MR | CT |",
        "|---|---|---|",
        *(f"| {n} | {m} | {c} |" for n, m, c in zip(names, cols["mr"], cols["ct"])),
        "",
    ]


def foreign(bench: Path) -> list[str]:
    """The shipped models on degradations made by other code (MONAI's and TorchIO's),
    from ``python -m benchmarks foreign``: the card's tables all come from this
    repository's own simulator, so a reader needs to see what carries over."""
    f = _json(bench / "foreign.json")
    if f is None or "totals" not in f:
        return []
    run = _latest_run(f, "MR")
    return [
        "## On degradations made by other code",
        "",
        "Everything above was simulated by this repository's registry. "
        f"`python -m benchmarks foreign` ({run['date_utc']}) degrades the same held-out "
        "volumes with MONAI's and TorchIO's transforms instead; per simulator and setting "
        "in docs/benchmarks.md. Mean masked PSNR gain over the input, cases below it, and "
        "how often the report named the simulated type first:",
        "",
        *f["totals"],
        "",
    ]


# The tables of an embedded calibration after the gain's, each with its caption; a file
# calibrated before a table existed (recall: session 10, removed: session 18) lacks it.
_CALIBRATION_TABLES = (
    (
        "recall",
        "Recall on the same cases: the share in which the report named the type "
        "(p >= 0.5). `classify` and the widget mark a type under 0.5 as unreliable.",
    ),
    (
        "removed",
        "Share of the artefact's squared error that the calibrated change removes on the "
        "same cases (0.10 is about +0.46 dB). A gain of 1 says all of the change helps, "
        "not that it is large: `classify` and the widget call a finding corrected only "
        "with a gain of 0.25 and a removed share of 0.10 or more.",
    ),
)


def _severity_table(table: dict[str, list[float]]) -> list[str]:
    """A per-type, per-severity table of the calibration, as Markdown rows."""
    rows = [f"| {t} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for t, row in table.items()]
    return ["| type | mild | moderate | severe |", "|---|---|---|---|", *rows]


def _calibration(weights: Path) -> list[str]:
    """The embedded `training.calibrate` tables of a weights file, as Markdown."""
    from napari_dcpt.models import read_metadata

    cal = read_metadata(weights)["extra"].get("restore_gain")
    if not cal:
        return ["- calibration: none (restore applies 1 - p(clean) of the change)"]
    lines = [
        "",
        f"Calibration (`python -m training calibrate`, {cal['cases']} degraded cases on "
        f"{', '.join(cal['volumes'])}, volumes outside the training and validation splits): "
        "the share of the network's change that moves an unseen slice towards its clean "
        "original (0 = none of it helps, 1 = all of it). `restore` applies "
        "`(1 - p(clean)) x (1 - prod_k (1 - p_k g_k))` of the change.",
        "",
        *_severity_table(cal["gain"]),
    ]
    for key, caption in _CALIBRATION_TABLES:
        if key in cal:
            lines += ["", caption, "", *_severity_table(cal[key])]
    return [*lines, ""]


def section(runs: Path, mod: str, out: Path, bench: Path | None = None) -> list[str]:
    """The model card section of one modality; ``bench``: the benchmark results folder."""
    from napari_dcpt.models import count_parameters, load_weights

    weights = out / f"{mod}.safetensors"
    lines = [f"## {mod.upper()} model (`{weights.name}`)", ""]
    if weights.is_file():
        net, cfg, vocab = load_weights(weights)
        backbone, head = count_parameters(net.backbone), count_parameters(net.classifier)
        lines += [
            f"- file size {weights.stat().st_size / 2**20:.2f} MB; backbone {backbone:,} "
            f"parameters, classifier head {head:,}",
            f"- network: {cfg.model_dump_json()}",
            f"- vocabulary: {', '.join(vocab)}",
        ]
        lines += _calibration(weights)
    c = _run_config(runs, f"{mod}_ft")
    if c is not None:
        d = c["data"]
        lines += [
            f"- data root `{d['root']}`: train {d.get('train_files')}, validation "
            f"{d.get('val_files')} (held-out volumes); patches {d['patch_size']} px, "
            f"batch {d['batch_size']}",
            f"- steps: pre-training {c['pretrain']['steps']}, fine-tuning "
            f"{c['finetune']['steps']}; ablation: {c['pretrain']['steps'] + c['finetune']['steps']}"
            " fine-tuning steps from random initialisation",
        ]
    cont = dict(continuations(runs, mod))
    for name in (f"{mod}_{c}" for c in CHAIN):  # in the order they made the file
        if name in cont:
            ms = cont[name]
            ft_cfg = (_run_config(runs, name) or {}).get("finetune", {})
            loss = ft_cfg.get("restoration_loss", "l1").upper()
            if loss == "PSNR":
                loss += f" (floor {ft_cfg.get('psnr_floor_db', 40.0):g} dB)"
            stop, planned = _stop(name), ft_cfg.get("steps")
            part = (
                f" (taken at that step of the run's {planned}: `--until {stop}`; the run goes on)"
                if stop is not None and planned is not None and stop < planned
                else ""
            )
            lines += [
                f"- fine-tuning continued (`{name}`, `python -m training finetune` from the "
                f"previous run's weights): {_steps(runs, name, ms)} more steps{part}, {loss} "
                "restoration loss" + ("" if ms else "; its validation curve was lost")
            ]
            continue
        head_cfg, head_runs = _run_config(runs, name), _jsonl(runs / name / "metrics.jsonl")
        if head_cfg is None or "head" not in head_cfg or not head_runs:
            continue
        h = head_cfg["head"]
        rate = head_runs[-1].get("steps_per_s") or 0.0
        lines += [
            f"- classifier head refit (`{name}`, `python -m training head`): "
            f"{head_runs[-1]['step']} steps of whole slices ({h['min_size']}-{h['max_size']} px "
            f"crops), k-space branch on, backbone frozen (restoration tensors unchanged); "
            f"{rate:.2f} steps/s"
        ]
    budgets = ablation_budgets(runs, mod)
    last = list(cont)[-1] if cont else f"{mod}_ft"
    # the ablation at the shipped file's budget, if it was taken that far
    equal = next((b for b in budgets if b[0] == last), None)
    if cont and equal is not None:
        lines += [
            f"- the ablation was taken through the same continuations (`{mod}_abl_<run>`, each "
            f"config from the ablation's previous export): the same {equal[2]} steps as the "
            "shipped file"
        ]
    elif cont and len(budgets) > 1:
        lines += [
            f"- the ablation was taken through the same continuations up to `{budgets[-1][0]}` "
            f"({budgets[-1][2]} steps) so far, not to the shipped file's budget"
        ]
    elif cont:
        lines += ["- the ablation matches the first fine-tuning's budget only"]
    timed = runs / f"{mod}_timed.json"
    if timed.is_file():  # trained by `python -m training.timed`
        t = json.loads(timed.read_text())
        lines += [
            f"- trained by `python -m training.timed` on {t['device']} within {t['minutes']} "
            f"minutes ({t['wall_s']:.0f} s used): pre-training {t['pretrain_steps']} steps in "
            f"{t['pretrain_s']:.0f} s ({t['rate_steps_per_s']:.1f} steps/s), then fine-tuning "
            f"({t['finetune_steps']} steps) and the ablation ({t['ablation_steps']} steps) side "
            "by side",
        ]
    times = runs / f"{mod}_times.txt"
    if times.is_file():
        lines += ["- wall times of the CPU steps (2-core CPU, 1 torch thread):", ""]
        lines += [f"      {t}" for t in times.read_text().splitlines()]
    lines.append("")
    # the shipped file's evaluation: that of the last run of the chain that has one
    candidates = [f"{mod}_{c}" for c in reversed(CHAIN)] + [f"{mod}_ft"]
    ev_dir = next(
        (runs / c / "eval" for c in candidates if (runs / c / "eval/eval.json").is_file()), None
    )
    refit = ev_dir is not None and ev_dir.parent.name.endswith("head")
    ev = _json(ev_dir / "eval.json") if ev_dir is not None else None
    # at the shipped budget, the ablation's twin of the shipped file's run (its head refit
    # too, once the ablation had it), so both classifiers come from the same point
    twin = None
    if equal and ev_dir is not None:
        twin = _json(runs / _ablation_of(mod, ev_dir.parent.name) / "eval/eval.json")
    abl = twin or _json(runs / (equal[1] if equal else f"{mod}_abl") / "eval/eval.json")
    if ev is None:
        return [*lines, "Evaluation pending.", ""]
    lines += [
        "### Validation (held-out volumes; `python -m training evaluate`)",
        "",
        "PSNR/SSIM on network units (CT: -1000..1000 HU -> 0..1; MR: 99.5th percentile -> 1),"
        " one 64 px centre patch per sampled slice, 16 samples per row, fixed seeds.",
        *(
            [
                "The ablation column is the no-pre-training network "
                + (
                    f"at the same total steps ({equal[2]})."
                    if equal
                    else "at the first fine-tuning's budget only."
                )
            ]
            if abl and cont
            else []
        ),
        *(
            [
                "Both classifiers are refit heads: the ablation had the same refits."
                if twin
                else "The shipped file's classifier is the refit head; the ablation's is its "
                "own fine-tuned head (no refit)."
            ]
            if refit
            else []
        ),
        "",
        *_table(ev, abl),
        "",
        f"Top-1 accuracy on single degradations: {100 * top1_single(ev):.0f} %"
        + (f" (ablation: {100 * top1_single(abl):.0f} %)" if abl else ""),
        "",
        "Quality bars on these validation patches (the network at full strength):",
        "",
        *_bars(ev),
    ]
    curve = fine_tuning_curve(runs, mod)
    ok, what, why = curve_status(curve)
    how = f"{what} ({why})" if why else what
    bar = "- validation curve flat (< 0.1 dB over the last doubling of fine-tuning steps): "
    if ok is not None:
        lines.append(f"{bar}{_met(ok)} ({how})")
    else:
        lines.append(f"{bar}{how}")
        tuned = fine_tuning_runs(runs, mod)
        own = flatness(_jsonl(runs / tuned[-1][0] / "metrics.jsonl")) if tuned else None
        if own is not None:  # the trend of the last run on its own
            a, b, gain = own
            lines.append(
                f"  - within the last run (`{tuned[-1][0]}`): {gain:+.2f} dB from its step {a} to {b}"
            )
    lines += ["", *(shipped_bars(bench, mod) if bench is not None else [])]
    chance = 1.0 / max(1, len(ev["vocabulary"]) - 1)
    if top1_single(ev) < 2 * chance:
        lines += [
            f"**The classifier has not learned**: top-1 {100 * top1_single(ev):.0f} % is within "
            f"twice chance ({100 * chance:.0f} %). Its reports (`classify`, the widget) are not "
            "to be relied on until a longer training run fixes it.",
            "",
        ]
    if not abl:
        lines += [
            "No-pre-training ablation: **not run for these weights** (no CPU time left in the "
            "session); `python -m training ablation --config training/configs/<mod>.yaml` runs "
            "it with the same total budget.",
            "",
        ]
    else:
        # the same budget: the shipped file's if the ablation went that far, else the first
        # fine-tuning's, before any continuation
        same = ev if equal or not cont else _json(runs / f"{mod}_ft/eval/eval.json")
        gain = np.mean(_single_differences(same or ev, abl))
        when = ", first fine-tuning before its continuation" if cont and not equal else ""
        lines += [
            f"DCPT pre-training vs none (same total steps{when}): mean restored PSNR difference over "
            f"single-type rows {gain:+.2f} dB "
            f"({'no measurable difference' if abs(gain) < 0.05 else 'pre-training helps' if gain > 0 else 'pre-training does not help'} here).",
            "",
        ]
        if len(budgets) > 1:
            lines += [
                "The same difference at every budget both were evaluated at (mean restored "
                "PSNR over the single-type rows, dB):",
                "",
                "| pre-trained run | ablation run | total steps | pre-trained | no pre-training "
                "| difference | rows ahead |",
                "|---|---|---|---|---|---|---|",
                *(
                    f"| `{a}` | `{b}` | {n} | {p:.2f} | {q:.2f} | {p - q:+.2f} | {k} of {m} |"
                    for a, b, n, p, q, k, m in budgets
                ),
                "",
            ]
    curves = plot_curves(runs, mod, out)
    lines += [f"![learning curves]({curves.name})", ""]
    # plots kept where the metrics behind them were lost (training/records/README.md)
    for old in sorted(runs.glob(f"{mod}_curves_*.png")):
        rel = Path(os.path.relpath(old.resolve(), out.resolve())).as_posix()
        lines += [
            f"Earlier curves ({old.stem.split('_')[-1]}; the image is kept, its metrics were "
            "lost):",
            "",
            f"![earlier learning curves]({rel})",
            "",
        ]
    conf = ev_dir / "confusion.png"
    if conf.is_file():
        import shutil

        shutil.copy(conf, out / f"{mod}_confusion.png")
        lines += [f"![confusion matrix]({mod}_confusion.png)", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="training/records")
    ap.add_argument("--out", default="src/napari_dcpt/weights")
    ap.add_argument("--bench", default="benchmarks/results", help="benchmark results folder")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    lines = [
        "# napari-dcpt default models",
        "",
        "Two small 2-D NAFNet-style restoration networks (one per modality) with the DCPT",
        "degradation classifier head, trained by this repository's recipe on the real data",
        "cache (`../shared/data/fetch_data.sh`).",
        "",
        "Intended use: research and quality-control of MR/CT restoration; not a diagnostic "
        "device. Limits: trained for minutes (8 on one GPU; then MR 8.2 and CT 2.7 more hours of fine-tuning "
        "on a 2-core CPU), "
        "not days, on a handful of public "
        "volumes (CT: one chest CT and one head atlas), 2-D slice-wise.",
        "",
    ]
    lines += summary(runs, Path(args.bench))
    lines += foreign(Path(args.bench))
    for mod in ("mr", "ct"):
        lines += section(runs, mod, out, Path(args.bench))
    lines += [
        "## How the files were made",
        "",
        "```bash",
        "python -m training.prepare_ct --out runs/data/ct   # CT train/validation slabs",
        "python -m training.timed mr --minutes 8 --run-root runs/gpu --device cuda \\",
        "    --pretrain-steps 1500 --workers 2 --margin 0.7",
        "python -m training.timed ct --minutes 8 --run-root runs/gpu --device cuda \\",
        "    --pretrain-steps 400 --workers 5 --batch-size 32 --patches-per-slice 8 --margin 0.7",
        "python -m training export runs/gpu/mr_ft/last.pt src/napari_dcpt/weights/mr.safetensors",
        "python -m training export runs/gpu/ct_ft/last.pt src/napari_dcpt/weights/ct.safetensors",
        "# CT, 2-core CPU, 1 thread (session 8): fine-tuning with the PSNR loss",
        "python -m training finetune --config training/configs/ct_psnr.yaml --run-dir runs/gpu/ct_psnr \\",
        "    --init src/napari_dcpt/weights/ct.safetensors --threads 1",
        "python -m training export runs/gpu/ct_psnr/last.pt src/napari_dcpt/weights/ct.safetensors",
        "W=src/napari_dcpt/weights; D=~/.cache/napari-dcpt/data",
        "# MR, 2-core CPU, 1 thread: session 6 head refit, session 7 augmented fine-tuning,",
        "# session 8 fine-tuning with the PSNR loss; each followed by a head refit",
        "git show 9e018c0:training/configs/mr_head.yaml > mr_head_s6.yaml  # 4000 steps, no aug.",
        "python -m training head --config mr_head_s6.yaml --run-dir runs/gpu/mr_head_s6 \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head_s6/last.pt $W/mr.safetensors",
        "python -m training finetune --config training/configs/mr_cont.yaml --run-dir runs/gpu/mr_cont \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_cont/last.pt runs/gpu/mr_cont.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/gpu/mr_head_s7 \\",
        "    --init runs/gpu/mr_cont.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head_s7/last.pt $W/mr.safetensors",
        "python -m training finetune --config training/configs/mr_psnr.yaml --run-dir runs/gpu/mr_psnr \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_psnr/last.pt runs/gpu/mr_psnr.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/gpu/mr_head \\",
        "    --init runs/gpu/mr_psnr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head/last.pt $W/mr.safetensors",
        "# calibration (session 8)",
        "python -m training calibrate $W/mr.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training calibrate $W/ct.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --volumes $D/dicom/eCT_Supplemental.dcm \\",
        '    "$(python -c \'from pydicom.data import get_testdata_file as g; print(g("CT_small.dcm"))\')"',
        "python -m training evaluate --checkpoint runs/gpu/mr_ft/last.pt --out runs/gpu/mr_ft/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/mr_cont/last.pt --out runs/gpu/mr_cont/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/mr_psnr/last.pt --out runs/gpu/mr_psnr/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/ct_psnr/last.pt --out runs/gpu/ct_psnr/eval --samples 16",
        "# session 9, 2-core CPU, 1 thread each, side by side: the PSNR loss floored at 50 dB",
        "python -m training finetune --config training/configs/ct_floor.yaml --run-dir runs/s9/ct_floor \\",
        "    --init $W/ct.safetensors --threads 1",
        "python -m training export runs/s9/ct_floor/last.pt runs/s9/ct_floor.safetensors",
        "python -m training finetune --config training/configs/ct_floor60.yaml --run-dir runs/s9/ct_floor60 \\",
        "    --init runs/s9/ct_floor.safetensors --threads 1   # then the floor at 60 dB",
        "python -m training export runs/s9/ct_floor60/last.pt runs/s9/ct_floor60.safetensors",
        "python -m training calibrate runs/s9/ct_floor60.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --threads 2 --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "python -m training finetune --config training/configs/mr_floor.yaml --run-dir runs/s9/mr_floor \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/s9/mr_floor/last.pt runs/s9/mr_floor.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s9/mr_head \\",
        "    --init runs/s9/mr_floor.safetensors --threads 1",
        "python -m training export runs/s9/mr_head/last.pt runs/s9/mr_head.safetensors",
        "python -m training calibrate runs/s9/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 1 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "for r in ct_floor ct_floor60 mr_floor mr_head; do  # evaluate; keep the small files in git",
        "  python -m training evaluate --checkpoint runs/s9/$r/last.pt --out runs/s9/$r/eval --samples 16",
        "  mkdir -p training/records/$r/eval && cp runs/s9/$r/{config.yaml,data.json,metrics.jsonl} \\",
        "    training/records/$r/ && cp runs/s9/$r/eval/eval.* runs/s9/$r/eval/confusion.png training/records/$r/eval/",
        "done",
        "# session 10: both files recalibrated, which adds the recall table (gains unchanged)",
        "python -m training calibrate $W/mr.safetensors $W/mr.safetensors --repeats 3 --threads 1 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training calibrate $W/ct.safetensors $W/ct.safetensors --repeats 8 --threads 1 \\",
        "    --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "# session 11: CT one more doubling of its fine-tuning steps (7076 -> 14152), 1 thread",
        "python -m training finetune --config training/configs/ct_long.yaml --run-dir runs/s11/ct_long \\",
        "    --init $W/ct.safetensors --threads 1",
        "python -m training export runs/s11/ct_long/last.pt runs/s11/ct_long.safetensors",
        "python -m training calibrate runs/s11/ct_long.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --threads 2 --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "python -m training evaluate --checkpoint runs/s11/ct_long/last.pt --out runs/s11/ct_long/eval --samples 16",
        "# session 12: MR 10000 more fine-tuning steps (17745 -> 27745), 1 thread, then its head",
        "python -m training finetune --config training/configs/mr_long.yaml \\",
        "    --run-dir training/records/mr_long --init $W/mr.safetensors --threads 1",
        "python -m training export training/records/mr_long/last.pt runs/s12/mr_long.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s12/mr_head \\",
        "    --init runs/s12/mr_long.safetensors --threads 1",
        "python -m training export runs/s12/mr_head/last.pt runs/s12/mr_head.safetensors",
        "python -m training calibrate runs/s12/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 2 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training evaluate --checkpoint runs/s12/mr_head/last.pt --out runs/s12/mr_head/eval --samples 16",
        "# session 13: MR 7000 more fine-tuning steps (27745 -> 34745) at 3/5 of the peak rate",
        "python -m training finetune --config training/configs/mr_long2.yaml \\",
        "    --run-dir training/records/mr_long2 --init $W/mr.safetensors --threads 1",
        "python -m training export training/records/mr_long2/last.pt runs/s13/mr_long2.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s13/mr_head \\",
        "    --init runs/s13/mr_long2.safetensors --threads 1",
        "python -m training export runs/s13/mr_head/last.pt runs/s13/mr_head.safetensors",
        "python -m training calibrate runs/s13/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 2 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training evaluate --checkpoint training/records/mr_long2/last.pt \\",
        "    --out training/records/mr_long2/eval --samples 16",
        "python -m training evaluate --checkpoint runs/s13/mr_head/last.pt --out runs/s13/mr_head/eval --samples 16",
        "# session 14: the MR bias-field ratio measured over the anatomy; both MR files",
        "# recalibrated on that simulator (the default's tables came out identical: kept)",
        "python -m training calibrate benchmarks/weights/mr_ablation.safetensors \\",
        "    benchmarks/weights/mr_ablation.safetensors --repeats 3 --threads 2 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "PYTHONPATH=. python training/records/revalidate.py > training/records/mr_revalidated.jsonl",
        "# sessions 14-15: MR one more doubling from the session-13 file (34745 steps planned),",
        "# 1 thread; session 15's file is its step 10500 (`--until 10500` stops there with the",
        "# whole run's schedule; the run itself went on, training/records/README.md)",
        "PYTHONPATH=. python training/records/revalidate.py --config training/configs/mr_long3.yaml \\",
        "    --file $W/mr.safetensors --step 34745 --run mr_long2 > training/records/mr_long3_start.jsonl",
        "python -m training finetune --config training/configs/mr_long3.yaml \\",
        "    --run-dir training/records/mr_long3 --init $W/mr.safetensors --threads 1 --until 10500",
        "python -m training export training/records/mr_long3/last.pt runs/s15/long3_10500.safetensors",
        "python -m training evaluate --checkpoint training/records/mr_long3/last.pt \\",
        "    --out training/records/mr_long3/eval --samples 16",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s15/mr_head \\",
        "    --init runs/s15/long3_10500.safetensors --threads 1",
        "python -m training export runs/s15/mr_head/last.pt runs/s15/mr_head.safetensors",
        "python -m training evaluate --checkpoint runs/s15/mr_head/last.pt --out runs/s15/mr_head/eval --samples 16",
        "python -m training calibrate runs/s15/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 1 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "# session 17: mr_long4, 8000 steps from the session-15 file (mr_long3's rate at its",
        "# step 10500, annealed to zero), 2 threads, then its head refit and calibration",
        "PYTHONPATH=. python training/records/revalidate.py --config training/configs/mr_long4.yaml \\",
        "    --file $W/mr.safetensors --step 10500 --run mr_long3 > training/records/mr_long4_start.jsonl",
        "python -m training finetune --config training/configs/mr_long4.yaml \\",
        "    --run-dir training/records/mr_long4 --init $W/mr.safetensors --threads 2",
        "python -m training export training/records/mr_long4/last.pt runs/s17/long4.safetensors",
        "python -m training evaluate --checkpoint training/records/mr_long4/last.pt \\",
        "    --out training/records/mr_long4/eval --samples 16 --threads 2",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s17/mr_head \\",
        "    --init runs/s17/long4.safetensors --threads 2",
        "python -m training export runs/s17/mr_head/last.pt runs/s17/mr_head.safetensors",
        "python -m training evaluate --checkpoint runs/s17/mr_head/last.pt --out runs/s17/mr_head/eval \\",
        "    --samples 16 --threads 2",
        "python -m training calibrate runs/s17/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 2 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "# session 18: both files recalibrated in place, which adds the removed-share table",
        "# (gains and recall came out identical); the same CT command as above",
        "python -m training calibrate $W/mr.safetensors $W/mr.safetensors --repeats 3 --threads 1 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training calibrate $W/ct.safetensors $W/ct.safetensors --repeats 8 --threads 1 \\",
        "    --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "# session 18: 2000 more MR head steps on crops down to 32 px, from that file (the",
        "# config was named mr_head_fov.yaml when it ran; renamed, unchanged)",
        "python -m training head --config training/configs/mr_fov_head.yaml \\",
        "    --run-dir runs/s18/mr_head_fov --init $W/mr.safetensors --threads 1",
        "python -m training export runs/s18/mr_head_fov/last.pt runs/s18/mr_head_fov.safetensors",
        "python -m training evaluate --checkpoint runs/s18/mr_head_fov/last.pt \\",
        "    --out training/records/mr_fov_head/eval --samples 16 --threads 1",
        "python -m training calibrate runs/s18/mr_head_fov.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 1 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training.model_card   # reads training/records",
        "```",
        "",
        "The `runs/gpu/` folders of sessions 3-8 were lost with their machine;",
        "training/records/README.md says what was recomputed and what is gone.",
        "",
        "The two `timed` commands ran at the same time on one lent NVIDIA H100 (16 CPU cores).",
        "`training/configs/{mr,ct}_h100.yaml` hold the step counts they chose, so",
        "`python -m training pretrain|finetune|ablation --config` on those files repeats the",
        "runs with fixed steps on any machine, a CPU included (hours there).",
        "`bash training/train_default.sh` is the shorter CPU recipe of the previous weights.",
        f"Export, evaluation and this card ran on the 2-core {platform.machine()} CPU. Weights",
        "are safetensors with the network config and vocabulary embedded.",
        "",
    ]
    notes = runs / "NOTES.md"
    if notes.is_file():  # the hand-written history, its title one level down
        lines += ["", "## History", "", *notes.read_text().splitlines()[1:]]
    (out / "MODEL_CARD.md").write_text("\n".join(lines))
    print(f"wrote {out / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
