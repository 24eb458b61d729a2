"""`DegradationReport`: what the classifier says is wrong with a scan, per type."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_NAMES = ("absent", "mild", "moderate", "severe")


# Below this calibrated gain a finding is reported as one the model does not correct:
# under a quarter of its change helps, so `restore` leaves such a scan nearly as it is.
NOT_CORRECTED_BELOW = 0.25
# Below this calibrated share of the error removed, likewise: a change that takes away
# under a tenth of the artefact's squared error gains under 0.46 dB, which no reader
# sees, even when all of that small change helps (a gain of 1).
NOT_CORRECTED_REMOVED_BELOW = 0.10
# Below this calibrated recall a type's probability is reported as unreliable: on scans
# the model never saw, it named the type in fewer than half of the cases that had it.
UNRELIABLE_BELOW = 0.5


@dataclass(frozen=True)
class Finding:
    """One degradation type: its probability and its most likely severity.

    ``gain`` is the calibrated share of the network's change that helps for this
    type, ``recall`` the calibrated share of unseen degraded cases in which the
    report named it (probability >= 0.5), and ``removed`` the calibrated share of the
    artefact's squared error that `restore` takes away, each averaged over the severity
    head's belief (``training.calibrate``); None when the weights file carries no such
    table.
    """

    type: str
    probability: float
    severity: str
    severity_probabilities: tuple[float, ...] = ()
    gain: float | None = None
    recall: float | None = None
    removed: float | None = None

    @property
    def corrected(self) -> bool:
        """False when the calibration says the model does not undo this type: little of
        its change helps, or what helps removes little of the artefact."""
        if self.gain is not None and self.gain < NOT_CORRECTED_BELOW:
            return False
        return self.removed is None or self.removed >= NOT_CORRECTED_REMOVED_BELOW

    @property
    def reliable(self) -> bool:
        """False when the calibration says the report rarely names this type when present."""
        return self.recall is None or self.recall >= UNRELIABLE_BELOW

    def notes(self) -> list[str]:
        """What the calibration says about this finding, for people (may be empty)."""
        out = [] if self.corrected else ["not corrected by this model"]
        if not self.reliable:
            out.append(f"named in {self.recall:.0%} of unseen test cases")
        return out

    def label(self) -> str:
        """Human text, e.g. ``"bias field, mild, p=0.81 (not corrected by this model)"``."""
        sev = f", {self.severity}" if self.severity not in ("absent", "") else ""
        notes = self.notes()
        note = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.type.replace('_', ' ')}{sev}, p={self.probability:.2f}{note}"


@dataclass(frozen=True)
class DegradationReport:
    """Per-type probabilities (multi-label), most likely first; ``clean`` included.

    ``findings`` holds every vocabulary entry except ``clean``; ``clean_probability``
    is the classifier's belief that nothing is wrong.
    """

    modality: str
    findings: tuple[Finding, ...]
    clean_probability: float
    threshold: float = 0.5
    n_samples: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def detected(self) -> tuple[Finding, ...]:
        """Findings at or above the decision threshold."""
        return tuple(f for f in self.findings if f.probability >= self.threshold)

    @property
    def verdict(self) -> str:
        """``"findings"`` when a type reaches the threshold; else ``"clean"`` when clean
        does, and ``"unclear"`` when neither does: the classifier doubts the scan is
        clean but cannot say what is wrong (common on artefacts simulated by other code:
        docs/benchmarks.md), so it must not be called clean."""
        if self.detected:
            return "findings"
        if self.clean_probability >= self.threshold or not self.findings:
            return "clean"
        return "unclear"

    def summary(self) -> str:
        """One line for a status bar or a log, by `verdict`."""
        verdict = self.verdict
        if verdict == "findings":
            return f"{self.modality}: " + "; ".join(f.label() for f in self.detected)
        if verdict == "clean":
            return (
                f"{self.modality}: no degradation detected (clean, p={self.clean_probability:.2f})"
            )
        top = self.findings[0]
        return (
            f"{self.modality}: unclear: no type reaches p={self.threshold:.2f}, and clean only "
            f"p={self.clean_probability:.2f} (most likely {top.type.replace('_', ' ')}, "
            f"p={top.probability:.2f})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for ``--report`` files)."""
        d = asdict(self)
        d["detected"] = [f.type for f in self.detected]
        d["summary"] = self.summary()
        return d
