"""The `napari-dcpt` command: info, classify, restore, batch, demo, degradations, degrade.

Exit codes: 0 success; 1 error (one line on stderr naming the file); 2 usage error;
3 `batch` finished but some inputs failed; 130 interrupted (Ctrl-C); 141 the reader
of standard output went away (`| head`), as for any command killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_dcpt.errors import DcptError, OutOfScopeError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a C tool in the same place
QUIET_HELP = "no progress bars or summary lines (errors and warnings still print)"


def _int_in(lo: int, hi: int) -> Any:
    """An argparse ``type`` for a whole number in ``lo..hi``: a value outside is a
    usage error (exit 2, one line) before any work, not a traceback from the engine."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {lo}..{hi}, got {value}")
        return value

    return parse


def _inference_int(name: str) -> Any:
    """`_int_in` with the bounds of `InferenceConfig` field ``name``, so that the command
    line and the napari widget accept the same values."""
    from napari_dcpt.config import InferenceConfig

    meta = InferenceConfig.model_fields[name].metadata
    lo = next(m.ge for m in meta if hasattr(m, "ge"))
    hi = next(m.le for m in meta if hasattr(m, "le"))
    return _int_in(lo, hi)


def _modality(value: str | None) -> str | None:
    return None if value in (None, "auto") else value.upper()


def _progress(stage_total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=stage_total, desc=desc, disable=quiet, leave=False, file=sys.stderr)


def _drive(gen: Any, quiet: bool, label: str) -> Any:
    """Run a restore/classify generator with one progress bar per stage."""
    bar, stage = None, None
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            if p.stage != stage:
                if bar is not None:
                    bar.close()
                stage = p.stage
                bar = _progress(p.total, f"{label} {stage}", quiet)
            bar.n = p.done
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()
        gen.close()


def _write_json(path: Path, data: Any) -> None:
    from napari_dcpt.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


# -- commands --------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from napari_dcpt import io

    path = Path(args.input)
    if io.detect_format(path) == "dicom":
        series = io.list_series(path)
        for s in series:
            print(f"series {s.uid}  {s.modality}  {s.n_frames} slices  {s.description!r}")
        uids = [s.uid for s in series] if args.series is None else [args.series]
        if len(uids) > 1:
            print(f"{len(uids)} series: pass --series UID for the geometry of one")
            return EXIT_OK
    vol = io.read(path, series_uid=args.series, index=args.index)
    stated = io.other_modality(vol.meta)
    guessed = " (guessed from intensities)" if vol.meta.get("modality_guessed") else ""
    if stated:
        guessed = f" (DICOM Modality {stated}: not restored by the MR and CT models)"
    print(f"{path.name}: {vol.describe()}{guessed}")
    print(f"  origin (LPS, mm): {tuple(round(v, 3) for v in vol.origin)}")
    # + 0.0 turns the -0.0 that rounding leaves into 0.0
    print(f"  direction (columns z, y, x): {(vol.direction.round(4) + 0.0).tolist()}")
    dev = vol.meta.get("spacing_deviation_mm")
    if dev:
        print(f"  non-uniform slice spacing: largest deviation {dev:.4g} mm")
    return EXIT_OK


def _load_input(args: argparse.Namespace) -> Any:
    from napari_dcpt import io

    return io.read(
        args.input, series_uid=args.series, index=args.index, modality=_modality(args.modality)
    )


def cmd_classify(args: argparse.Namespace) -> int:
    from napari_dcpt.inference.engine import classify_steps, resolve_device

    vol = _load_input(args)
    report = _drive(
        classify_steps(
            vol,
            model=args.weights,
            modality=None,
            device=resolve_device(args.device),
            max_slices=args.slices,
            threads=args.threads,
        ),
        args.quiet,
        Path(args.input).name,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{Path(args.input).name}: {report.summary()}")
        for f in report.findings:
            notes = f.notes()
            fix = "" if f.gain is None else f"  gain {f.gain:.2f}"
            fix += "" if f.removed is None else f"  removes {f.removed:.0%}"
            fix += f" ({'; '.join(notes)})" if notes else ""
            print(f"  {f.type:<16} p={f.probability:.2f}  {f.severity:<9}{fix}".rstrip())
        print(f"  {'clean':<16} p={report.clean_probability:.2f}")
    return EXIT_OK


def _restore_one(vol: Any, args: argparse.Namespace, label: str) -> Any:
    from napari_dcpt.inference import restore

    gen = restore(
        vol,
        model=args.weights,
        device=args.device,
        tile=args.tile,
        batch_size=args.batch_size,
        threads=args.threads,
        scale_by_report=not args.full_strength,
    )
    return _drive(gen, args.quiet, label)


def cmd_restore(args: argparse.Namespace) -> int:
    from napari_dcpt import io
    from napari_dcpt.io.atomic import check_output

    out = Path(args.output)
    check_output(out, overwrite=args.overwrite, inputs=(args.input,))  # fail before work
    vol = _load_input(args)
    io.check_format(vol, out)
    t0 = time.perf_counter()
    result = _restore_one(vol, args, Path(args.input).name)
    io.write(result.volume, out, overwrite=args.overwrite, anonymize=args.anonymize)
    dt = time.perf_counter() - t0
    if args.report:
        _write_json(
            Path(args.report),
            {
                "input": str(args.input),
                "output": str(out),
                "seconds": round(dt, 2),
                "strength": round(result.strength, 4),
                **result.report.to_dict(),
            },
        )
    if not args.quiet:
        print(
            f"{out}: restored in {dt:.1f} s at strength {result.strength:.2f}; "
            f"{result.report.summary()}"
        )
    return EXIT_OK


def _shard(spec: str | None) -> tuple[int, int]:
    """``K/N`` (1-based) or, under torchrun, this process's rank."""
    if spec:
        try:
            k, n = (int(v) for v in spec.split("/"))
        except ValueError:
            raise DcptError(f"--shard must be K/N, got {spec!r}") from None
        if not 1 <= k <= n:
            raise DcptError(f"--shard K/N needs 1 <= K <= N, got {spec!r}")
        return k, n
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]) + 1, int(os.environ["WORLD_SIZE"])
    return 1, 1


def _batch_output(item: Any, root: Path, out_dir: Path) -> Path:
    """Mirror the input tree; a DICOM series becomes a derived-series folder named by
    a hash of its UID (never by header text, which could hold patient data)."""
    import hashlib

    from napari_dcpt.io import IMAGE_SUFFIXES

    rel = item.path.relative_to(root) if item.path != root else Path(item.path.name)
    if item.series_uid is None and item.path.name.lower().endswith(IMAGE_SUFFIXES):
        out = out_dir / rel
    else:
        tag = hashlib.sha1((item.series_uid or item.path.name).encode()).hexdigest()[:12]
        parent = rel if item.path.is_dir() else rel.parent
        out = out_dir / parent / f"series-{tag}"
    out = out.resolve()
    if out_dir.resolve() not in out.parents:
        raise DcptError("output would leave the output folder", out)
    return out


def _batch_row(input_label: str, **values: Any) -> dict[str, Any]:
    """One row of the batch report, every column present (the CSV header is row 0's keys)."""
    row: dict[str, Any] = {
        "input": input_label,
        "output": "",
        "status": "",
        "seconds": 0,
        "detected": "",
        "unreliable": "",
        "strength": "",
        "error": "",
    }
    row.update(values)
    return row


def _report_columns(report: Any) -> dict[str, str]:
    """The batch report's view of a `DegradationReport`: the types it names (else its
    verdict, ``clean`` or ``unclear``), and those of them the calibration found it names
    in under half of their unseen cases."""
    found = report.detected
    return {
        "detected": ";".join(f.type for f in found) or report.verdict,
        "unreliable": ";".join(f.type for f in found if not f.reliable),
    }


def cmd_batch(args: argparse.Namespace) -> int:
    import csv

    from napari_dcpt import io
    from napari_dcpt.io.atomic import atomic_path, remove_stale_partials

    root, out_dir = Path(args.input_dir), Path(args.output_dir)
    if not root.is_dir():
        raise DcptError("not a folder", root)
    if out_dir.resolve() == root.resolve() or root.resolve() in out_dir.resolve().parents:
        raise DcptError("the output folder must not be inside the input folder", out_dir)
    # Before any work: an output folder we cannot create or write is reported now,
    # not after hours of restoration.
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DcptError(
            f"cannot create the output folder ({exc.strerror or exc})", out_dir
        ) from None
    if not os.access(out_dir, os.W_OK):
        raise DcptError("output folder is not writable", out_dir)
    items, skipped = io.discover(root)
    k, n = _shard(args.shard)
    mine = [it for i, it in enumerate(items) if i % n == k - 1]
    rows = [_batch_row(str(p), status="failed", error=reason) for p, reason in skipped]
    report_path = (
        Path(args.report)
        if args.report
        else out_dir / (f"report-{k}of{n}.csv" if n > 1 else "report.csv")
    )
    remove_stale_partials(report_path)  # left by a killed run of this shard
    if args.json:
        remove_stale_partials(report_path.with_suffix(".json"))

    def save_report() -> None:
        with atomic_path(report_path) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["input"])
                w.writeheader()
                w.writerows(rows)
        if args.json:
            _write_json(report_path.with_suffix(".json"), rows)

    if not items:
        if created:
            out_dir.rmdir()  # a failed run leaves nothing behind
        if skipped:  # say why the only candidates failed
            raise DcptError(f"no readable images: {skipped[0][1]}", skipped[0][0])
        raise DcptError("no readable images (NIfTI, NRRD, MHA or DICOM) found", root)
    from tqdm import tqdm

    for item in tqdm(mine, desc=f"batch {k}/{n}", disable=args.quiet, file=sys.stderr):
        label = item.key
        row = _batch_row(label)
        t0 = time.perf_counter()
        try:
            out = _batch_output(item, root, out_dir)
            row["output"] = str(out)
            # A SIGKILLed earlier run leaves its temporary sibling; this output is ours.
            remove_stale_partials(out)
            if out.exists() and args.resume:
                row["status"] = "skipped"
            else:
                vol = io.read(
                    item.path, series_uid=item.series_uid, modality=_modality(args.modality)
                )
                result = _restore_one(vol, args, item.path.name)
                io.write(result.volume, out, overwrite=args.overwrite, anonymize=args.anonymize)
                row["status"] = "restored"
                row.update(_report_columns(result.report))
                row["strength"] = round(result.strength, 4)
        except OutOfScopeError as exc:  # readable, just not MR or CT: not a failure
            row["status"], row["error"], row["output"] = "skipped", str(exc), ""
            if not args.quiet:
                print(f"skipped: {exc}", file=sys.stderr)
        except DcptError as exc:
            row["status"], row["error"] = "failed", str(exc)
            print(f"error: {exc}", file=sys.stderr)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
        save_report()  # after every file, so a killed job still leaves its record
    if not rows:
        rows.append(_batch_row(""))
    save_report()
    counts = {s: sum(r["status"] == s for r in rows) for s in ("restored", "skipped", "failed")}
    if not args.quiet:
        print(
            f"batch {k}/{n}: {counts['restored']} restored, {counts['skipped']} skipped, "
            f"{counts['failed']} failed; report: {report_path}"
        )
    return EXIT_PARTIAL if counts["failed"] else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from napari_dcpt import io
    from napari_dcpt.samples import sample_paths, save_comparison

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for modality, path in sample_paths().items():
        vol = io.read(path)
        t0 = time.perf_counter()
        result = _restore_one(vol, args, path.name)
        stem = f"{modality.lower()}_sample"
        io.write(result.volume, out_dir / f"{stem}_restored.nii.gz", overwrite=True)
        png = save_comparison(
            vol, result.volume, out_dir / f"{stem}_before_after.png", title=result.report.summary()
        )
        print(f"{path.name}: {vol.describe()}")
        print(f"  degradation report: {result.report.summary()}")
        print(f"  network change applied at strength {result.strength:.2f} (from the report)")
        print(
            f"  restored in {time.perf_counter() - t0:.1f} s -> "
            f"{out_dir / (stem + '_restored.nii.gz')}, {png}"
        )
    return EXIT_OK


def cmd_degradations(args: argparse.Namespace) -> int:
    from napari_dcpt.degradations import registry_table

    print(registry_table())
    return EXIT_OK


def cmd_degrade(args: argparse.Namespace) -> int:
    from napari_dcpt import io
    from napari_dcpt.degradations import apply_record, sample_record
    from napari_dcpt.io.atomic import check_output

    check_output(args.output, overwrite=args.overwrite, inputs=(args.input,))
    vol = _load_input(args)
    if vol.modality not in ("MR", "CT"):
        io.check_in_scope(vol.meta, args.input, "pass --modality mr|ct")
        raise DcptError("modality unknown: pass --modality mr|ct", args.input)
    try:
        record = sample_record(
            vol.modality, args.seed, types=tuple(args.type), severity=args.severity, p_clean=0.0
        )
        degraded = apply_record(vol.array, record, vol.spacing)
    except ValueError as exc:
        raise DcptError(str(exc), args.input) from exc
    out = io.write(vol.with_array(degraded), args.output, overwrite=args.overwrite)
    if args.record:
        _write_json(Path(args.record), record.to_dict())
    if not args.quiet:
        print(f"{out}: {'+'.join(record.types)} ({', '.join(record.severities)}), seed {args.seed}")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------
def _add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="NIfTI/NRRD/MHA file, DICOM file or DICOM folder")
    p.add_argument("--series", help="SeriesInstanceUID when a DICOM folder holds several")
    p.add_argument("--index", type=int, help="volume index of a 4-D file")
    p.add_argument(
        "--modality",
        default="auto",
        type=str.lower,
        choices=["auto", "mr", "ct"],
        help="override the header / intensity guess",
    )


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="a .safetensors model (default: the shipped one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--threads", type=_inference_int("threads"), help="torch CPU threads (default: torch's)"
    )


def _add_restore_options(p: argparse.ArgumentParser) -> None:
    from napari_dcpt.config import DEFAULT_BATCH, DEFAULT_TILE

    p.add_argument(
        "--tile", type=_inference_int("tile"), default=DEFAULT_TILE, help="in-plane tile (px)"
    )
    p.add_argument(
        "--batch-size",
        type=_inference_int("batch_size"),
        default=DEFAULT_BATCH,
        help="slices/tiles per network call",
    )
    p.add_argument(
        "--full-strength",
        action="store_true",
        help="apply all of the network's change; by default it is scaled by the share the "
        "report says will help: 1 - p(clean), times the model's calibrated gain per type",
    )


def _add_anonymize(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--anonymize",
        action="store_true",
        help="de-identify a DICOM output (PS3.15 Annex E Basic Profile); "
        "without it a derived series keeps the source's patient and study",
    )


def build_parser() -> argparse.ArgumentParser:
    from napari_dcpt import __version__

    parser = argparse.ArgumentParser(
        prog="napari-dcpt",
        description=__doc__.splitlines()[0],
        # the docstring's second paragraph: scripts need the exit codes from --help
        epilog=" ".join(__doc__.split("\n\n")[1].split()),
    )
    parser.add_argument("--version", action="version", version=f"napari-dcpt {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)
    # Also after the command (`napari-dcpt restore IN OUT --quiet`), where users type it.
    # SUPPRESS: a subcommand that was not given --quiet must not reset a global one.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument(
        "--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", parents=[quiet], help="series, geometry and modality of a scan")
    _add_input(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "classify", parents=[quiet], help="what is wrong with a scan (degradation report)"
    )
    _add_input(p)
    _add_model(p)
    p.add_argument(
        "--slices", type=_int_in(1, 256), default=12, help="slices sampled for the report"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("restore", parents=[quiet], help="restore one scan")
    _add_input(p)
    p.add_argument(
        "output", help=".nii/.nii.gz/.nrrd/.mha file, or a folder for a derived DICOM series"
    )
    _add_model(p)
    _add_restore_options(p)
    p.add_argument("--report", help="write the degradation report (JSON) here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_anonymize(p)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "batch", parents=[quiet], help="restore every scan under a folder (resumable)"
    )
    p.add_argument("input_dir")
    p.add_argument("output_dir")
    p.add_argument("--modality", default="auto", type=str.lower, choices=["auto", "mr", "ct"])
    _add_model(p)
    _add_restore_options(p)
    p.add_argument("--resume", action="store_true", help="skip inputs whose output exists")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_anonymize(p)
    p.add_argument("--report", help="CSV report path (default OUTPUT_DIR/report.csv)")
    p.add_argument("--json", action="store_true", help="also write the report as JSON")
    p.add_argument(
        "--shard",
        help="K/N: process the K-th of N deterministic shares "
        "(default: the torchrun rank, else all)",
    )
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("demo", parents=[quiet], help="restore the bundled MR and CT samples")
    p.add_argument("output_dir", nargs="?", default="demo-output")
    _add_model(p)
    _add_restore_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("degradations", parents=[quiet], help="list the degradation registry")
    p.set_defaults(func=cmd_degradations)

    p = sub.add_parser(
        "degrade", parents=[quiet], help="write a degraded copy of a scan (same geometry)"
    )
    _add_input(p)
    p.add_argument("output")
    p.add_argument(
        "--type", action="append", required=True, help="degradation type (repeat for a mixture)"
    )
    p.add_argument("--severity", default="moderate", choices=["mild", "moderate", "severe"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", help="write the degradation record (JSON) here")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_degrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.quiet = getattr(args, "quiet", False)
    with warnings.catch_warnings():
        warnings.showwarning = _warn_one_line
        return _run(args)


def _warn_one_line(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    """Show a warning as ``warning: <text>``: Python's default adds the file, line and
    source line of the library that raised it, which reads like a traceback."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        code = int(args.func(args))
    except DcptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except MemoryError:
        print("error: out of memory (try a smaller --tile or --batch-size)", file=sys.stderr)
        code = EXIT_ERROR
    except BrokenPipeError:  # an unbuffered write met it mid-command
        return _pipe_gone(EXIT_PIPE)
    try:
        sys.stdout.flush()  # into a pipe, output is buffered: a gone reader shows here
    except BrokenPipeError:
        return _pipe_gone(code or EXIT_PIPE)
    return code


def _pipe_gone(code: int) -> int:
    """Python raises where C tools die of SIGPIPE; stdout goes to devnull so that the
    interpreter's final flush does not raise again with a traceback."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
