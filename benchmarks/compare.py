"""Candidate weights against the shipped file: napari-dcpt's rows of the quality benchmark.

The same held-out cases, masks and PSNR as ``python -m benchmarks quality`` (single
types at every severity, the mixtures, clean), for napari-dcpt alone, so a candidate
file is held against the shipped one in minutes, without the classical methods. This
is the tool the shipping rules in training/records/NOTES.md are measured with. Prints
one row per case (gain over the input in the foreground mask, dB; clean: output PSNR,
one column per file) and a summary per file: type-and-severity cells (volumes
averaged) at or below their input, the lowest cell, the mean single-type gain (types
averaged), the mean mixture gain, clean PSNR and the worst single case. ``--json``
also writes every value.

    python -m benchmarks compare src/napari_dcpt/weights/mr.safetensors cand.safetensors
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import (
    build_case,
    case_records,
    heldout_volumes,
    mask_of,
    quality,
    write_json,
)
from benchmarks.methods import dcpt_method


@dataclass(frozen=True)
class Row:
    """One file's result on one case."""

    volume: str
    kind: str  # "single", "mixture" or "clean"
    label: str  # "blur/mild"; a mixture's type key; "clean"
    value: float  # gain over the input (dB); clean: output PSNR (dB)


@dataclass(frozen=True)
class Summary:
    """What a shipping rule reads off one file's rows (all in dB)."""

    cells: int
    cells_at_or_below: int
    lowest_cell: str
    lowest_gain: float
    mean_single_gain: float
    mean_mixture_gain: float
    clean_psnr: float
    worst_case: str
    worst_gain: float

    def line(self) -> str:
        return (
            f"cells at or below input {self.cells_at_or_below} of {self.cells}; lowest "
            f"{self.lowest_cell} {self.lowest_gain:+.3f} dB; mean single-type gain "
            f"{self.mean_single_gain:+.3f} dB; mean mixture gain {self.mean_mixture_gain:+.3f}"
            f" dB; clean {self.clean_psnr:.1f} dB; worst case {self.worst_case} "
            f"{self.worst_gain:+.3f} dB"
        )


def summarise(rows: list[Row]) -> Summary:
    """Cells average the volumes; the single-type mean averages each type's cells first,
    so every type weighs the same whatever its number of severities."""
    cells: dict[str, list[float]] = defaultdict(list)
    mixtures: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.kind == "single":
            cells[r.label].append(r.value)
        elif r.kind == "mixture":
            mixtures[r.label].append(r.value)
    if not cells:
        raise ValueError("no single-degradation rows to summarise")
    cell = {k: float(np.mean(v)) for k, v in cells.items()}
    by_type: dict[str, list[float]] = defaultdict(list)
    for label, g in cell.items():
        by_type[label.split("/")[0]].append(g)
    low = min(cell, key=cell.__getitem__)
    gains = [r for r in rows if r.kind != "clean"]
    worst = min(gains, key=lambda r: r.value)
    clean = [r.value for r in rows if r.kind == "clean"]
    return Summary(
        cells=len(cell),
        cells_at_or_below=sum(g <= 0 for g in cell.values()),
        lowest_cell=low,
        lowest_gain=cell[low],
        mean_single_gain=float(np.mean([np.mean(v) for v in by_type.values()])),
        mean_mixture_gain=float(np.mean([np.mean(v) for v in mixtures.values()]))
        if mixtures
        else float("nan"),
        clean_psnr=float(np.mean(clean)) if clean else float("nan"),
        worst_case=f"{worst.volume} {worst.label}",
        worst_gain=worst.value,
    )


def main(argv: list[str]) -> None:
    """``python -m benchmarks compare A.safetensors [B.safetensors ...]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__)
    ap.add_argument("weights", nargs="+", type=Path, help="weights files, shipped one first")
    ap.add_argument("--modality", default="MR", choices=["MR", "CT"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = ap.parse_args(argv)
    missing = [str(f) for f in args.weights if not f.is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)}: no such weights file")
    names = [f"{i}:{f.name}" for i, f in enumerate(args.weights)]
    methods = [dcpt_method(n, f, threads=args.threads) for n, f in zip(names, args.weights)]
    rows: dict[str, list[Row]] = {n: [] for n in names}
    for vol in heldout_volumes(args.modality):
        mask = mask_of(vol)
        for kind, rec in case_records(args.modality, False):
            case = build_case(vol, kind, rec)
            q_in = quality(vol, case.degraded, mask)["psnr_mask"]
            line = [f"{vol.name:15s} {case.label:40s}"]
            for m in methods:
                q = quality(vol, m.run(case, {}), mask)["psnr_mask"]
                v = q if kind == "clean" else q - q_in
                label = case.label if kind == "single" else case.type_key
                rows[m.name].append(Row(vol.name, kind, label, float(v)))
                line.append(f"{v:+8.3f}")
            print(" ".join(line), flush=True)
    summaries = {n: summarise(r) for n, r in rows.items()}
    for n, s in summaries.items():
        print(f"{n}: {s.line()}")
    if args.json is not None:
        write_json(
            args.json,
            {
                n: {"summary": asdict(summaries[n]), "rows": [asdict(r) for r in rows[n]]}
                for n in names
            },
        )
