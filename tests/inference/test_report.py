"""`DegradationReport.summary`: the one line users read says clean only when it is."""

from __future__ import annotations

from napari_dcpt.inference.report import DegradationReport, Finding


def _report(clean: float, *probs: tuple[str, float]) -> DegradationReport:
    findings = tuple(Finding(t, p, "moderate") for t, p in probs)
    return DegradationReport("MR", findings, clean)


def test_findings_at_the_threshold_are_listed() -> None:
    line = _report(0.1, ("spike", 0.8), ("motion", 0.5), ("blur", 0.2)).summary()
    assert line == "MR: spike, moderate, p=0.80; motion, moderate, p=0.50"


def test_clean_only_when_clean_reaches_the_threshold() -> None:
    assert _report(0.7, ("motion", 0.2)).summary() == (
        "MR: no degradation detected (clean, p=0.70)"
    )
    # nothing named, but the classifier doubts the scan is clean: not called clean
    line = _report(0.3, ("motion", 0.45), ("blur", 0.1)).summary()
    assert "clean, p=" not in line
    assert _report(0.3, ("motion", 0.45)).verdict == "unclear"
    assert _report(0.7, ("motion", 0.2)).verdict == "clean"
    assert line == (
        "MR: unclear: no type reaches p=0.50, and clean only p=0.30 (most likely motion, p=0.45)"
    )
