"""The degradation registry, records, sampling and deterministic application.

`REGISTRY` maps ``(modality, name)`` to a `DegradationSpec`; `sample_record` draws
types, severities and parameters from a seed; `apply_record` replays a record on
an image (numpy or torch, 2-D ``(y, x)`` or 3-D ``(z, y, x)``), preserving shape,
dtype and units (CT stays HU). Mixtures are applied in acquisition order (the
``order`` field): MR bias_field -> motion -> ghosting -> blur -> gibbs_ringing ->
spike -> undersampling -> rician_noise (noise on the complex data, magnitude last);
CT blur (system PSF acts on the object) -> sparse_view -> ring -> low_dose (noise is
inserted last, so it is not smoothed by the PSF and uses the sparse views if any).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_dcpt.degradations import ct, mr
from napari_dcpt.inference.normalise import MR_PERCENTILE, cast_like

SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")
MODALITIES: tuple[str, ...] = ("MR", "CT")

Range = tuple[float, float]
Expander = Callable[[np.random.Generator, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class DegradationSpec:
    """One degradation type.

    Parameters
    ----------
    name, modality
        Registry key, e.g. ``("MR", "rician_noise")``.
    physics
        One line on what is simulated.
    reference
        Where the model and the severity ranges come from.
    severities
        ``{"mild"|"moderate"|"severe": {param: (lo, hi)}}``, drawn uniformly.
    function
        Deterministic operator ``function(x, spacing, ctx, **params)`` (see `mr`, `ct`).
    order
        Position in the acquisition chain when types are mixed.
    choices
        Discrete parameters drawn uniformly whatever the severity.
    integer
        Parameters from ``severities`` that are rounded to integers.
    expand
        Draws the per-instance details (seeds, motion poses...) from the scalars.
    """

    name: str
    modality: str
    physics: str
    reference: str
    severities: dict[str, dict[str, Range]]
    function: Callable[..., np.ndarray]
    order: int
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    integer: frozenset[str] = frozenset()
    expand: Expander | None = None

    def function_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The subset of ``params`` the deterministic function takes."""
        names = inspect.signature(self.function).parameters
        return {k: v for k, v in params.items() if k in names}


def _with_seed(rng: np.random.Generator, p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "seed": int(rng.integers(0, 2**31 - 1))}


def _expand_motion(rng: np.random.Generator, p: dict[str, Any]) -> dict[str, Any]:
    n = int(p["n_moves"])
    times = sorted(float(t) for t in rng.uniform(0.1, 0.9, n))
    shifts, angles = [], []
    for _ in range(n + 1):
        direction = rng.uniform(0, 2 * np.pi)
        mag = p["max_shift_mm"] * rng.uniform(0.5, 1.0)
        shifts.append([float(mag * np.sin(direction)), float(mag * np.cos(direction))])
        angles.append(float(p["max_angle_deg"] * rng.uniform(0.5, 1.0) * rng.choice([-1, 1])))
    # The segment holding the k-space centre keeps the reference pose, so the
    # corrupted image stays registered to its clean target.
    centre = int(np.searchsorted(times, 0.5, side="right"))
    shifts[centre], angles[centre] = [0.0, 0.0], 0.0
    return {**p, "times": times, "shifts_mm": shifts, "angles_deg": angles}


def _expand_spike(rng: np.random.Generator, p: dict[str, Any]) -> dict[str, Any]:
    pos, ph = [], []
    for _ in range(int(p["n_spikes"])):
        r, a = rng.uniform(0.05, 0.4), rng.uniform(0, 2 * np.pi)
        pos.append([float(r * np.sin(a)), float(r * np.cos(a))])
        ph.append(float(rng.uniform(0, 2 * np.pi)))
    return {**p, "positions": pos, "phases": ph}


def _expand_undersampling(rng: np.random.Generator, p: dict[str, Any]) -> dict[str, Any]:
    # fastMRI pairs: 8 % centre at 4x, 4 % at 8x -> centre = 0.32 / acceleration.
    cf = float(np.clip(0.32 / p["acceleration"], 0.04, 0.2))
    return _with_seed(rng, {**p, "center_fraction": cf})


_MR = "MR"
_CT = "CT"
_SPECS: list[DegradationSpec] = [
    DegradationSpec(
        "rician_noise",
        _MR,
        "complex Gaussian thermal noise, magnitude image (Rician; Rayleigh background)",
        "Gudbjartsson & Patz, MRM 34:910 (1995); sigma as % of the 99.5th percentile, "
        "cf. BrainWeb noise levels 1-9 % (Cocosco et al. 1997)",
        {
            "mild": {"sigma": (0.01, 0.03)},
            "moderate": {"sigma": (0.03, 0.06)},
            "severe": {"sigma": (0.06, 0.12)},
        },
        mr.rician_noise,
        order=90,
        expand=_with_seed,
    ),
    DegradationSpec(
        "blur",
        _MR,
        "low resolution: apodised in-plane k-space truncation + thick-slice partial volume",
        "acquired matrix 1/res_factor of the image's; clinical 2-D slices 3-8 mm vs "
        "1 mm isotropic research T1 (e.g. Zhao et al., SMORE, MRI 2021)",
        {
            "mild": {"res_factor": (1.25, 1.6), "slice_mm": (2.0, 3.0)},
            "moderate": {"res_factor": (1.6, 2.5), "slice_mm": (3.0, 5.0)},
            "severe": {"res_factor": (2.5, 4.0), "slice_mm": (5.0, 8.0)},
        },
        mr.blur,
        order=40,
    ),
    DegradationSpec(
        "gibbs_ringing",
        _MR,
        "hard k-space truncation without apodisation: ringing beside edges",
        "Kellner et al., MRM 76:1574 (2016); keep = fraction of k-space acquired",
        {
            "mild": {"keep": (0.7, 0.85)},
            "moderate": {"keep": (0.5, 0.7)},
            "severe": {"keep": (0.3, 0.5)},
        },
        mr.gibbs_ringing,
        order=50,
    ),
    DegradationSpec(
        "motion",
        _MR,
        "rigid in-plane moves between segments of sequentially acquired phase-encode lines",
        "Shaw et al., MIDL 2019 / TorchIO RandomMotion; head motion of a few mm and "
        "degrees in uncooperative patients (Zaitsev et al., JMRI 42:887, 2015)",
        {
            "mild": {"max_shift_mm": (0.5, 2.0), "max_angle_deg": (0.5, 2.0)},
            "moderate": {"max_shift_mm": (2.0, 4.0), "max_angle_deg": (2.0, 4.0)},
            "severe": {"max_shift_mm": (4.0, 8.0), "max_angle_deg": (4.0, 8.0)},
        },
        mr.motion,
        order=20,
        choices={"n_moves": (1, 2, 3), "axis": (0, 1)},
        expand=_expand_motion,
    ),
    DegradationSpec(
        "ghosting",
        _MR,
        "periodic modulation of phase-encode lines: ghosts at FOV/period",
        "TorchIO RandomGhosting (Perez-Garcia et al., CMPB 208, 2021); ghost "
        "amplitude ~ intensity/period, i.e. 4-45 % of the signal",
        {
            "mild": {"intensity": (0.15, 0.35)},
            "moderate": {"intensity": (0.35, 0.6)},
            "severe": {"intensity": (0.6, 0.95)},
        },
        mr.ghosting,
        order=30,
        choices={"period": (2, 3, 4), "axis": (0, 1)},
    ),
    DegradationSpec(
        "spike",
        _MR,
        "RF spikes: corrupted k-space samples, herringbone stripes",
        "Jin et al., MRM 78:327 (2017); stripe amplitude as % of the 99.5th percentile",
        {
            "mild": {"amplitude": (0.02, 0.05)},
            "moderate": {"amplitude": (0.05, 0.10)},
            "severe": {"amplitude": (0.10, 0.20)},
        },
        mr.spike,
        order=60,
        choices={"n_spikes": (1, 2)},
        expand=_expand_spike,
    ),
    DegradationSpec(
        "bias_field",
        _MR,
        "smooth multiplicative coil-sensitivity field (exp of a cubic Legendre polynomial)",
        "BrainWeb INU 20 % / 40 % (Cocosco et al. 1997); ratio = field max/min over the "
        "anatomy, up to 2 at 3 T with surface coils (Sled et al., IEEE TMI 17:87, 1998)",
        {
            "mild": {"ratio": (1.1, 1.25)},
            "moderate": {"ratio": (1.25, 1.5)},
            "severe": {"ratio": (1.5, 2.0)},
        },
        mr.bias_field,
        order=10,
        expand=_with_seed,
    ),
    DegradationSpec(
        "undersampling",
        _MR,
        "Cartesian phase-encode undersampling, zero-filled reconstruction (aliasing)",
        "fastMRI masks (Zbontar et al., arXiv:1811.08839): 4x with 8 % centre, 8x with 4 %",
        {
            "mild": {"acceleration": (1.5, 2.5)},
            "moderate": {"acceleration": (2.5, 4.0)},
            "severe": {"acceleration": (4.0, 8.0)},
        },
        mr.undersampling,
        order=70,
        choices={"pattern": ("random", "equispaced"), "axis": (0, 1)},
        expand=_expand_undersampling,
    ),
    DegradationSpec(
        "low_dose",
        _CT,
        "HU -> mu -> sinogram -> Poisson counts at I0 + electronic noise -> FBP noise insertion",
        "Zeng et al., IEEE TNS 62:2226 (2015); I0 chosen for 10-60 HU water noise on a "
        "0.7 mm, 25 cm section, cf. Mayo LDCT quarter dose (McCollough et al., Med Phys 2017)",
        {
            "mild": {"I0": (4e5, 1.2e6)},
            "moderate": {"I0": (1.2e5, 4e5)},
            "severe": {"I0": (4e4, 1.2e5)},
        },
        ct.low_dose,
        order=90,
        choices={"electronic_std": (5.0, 8.0, 10.0)},
        expand=_with_seed,
    ),
    DegradationSpec(
        "sparse_view",
        _CT,
        "FBP from few views over 180 deg: streaks",
        "Jin et al., FBPConvNet, IEEE TIP 26:4509 (2017): 50-143 views",
        {
            "mild": {"n_views": (120, 180)},
            "moderate": {"n_views": (60, 120)},
            "severe": {"n_views": (24, 60)},
        },
        ct.sparse_view,
        order=20,
        integer=frozenset({"n_views"}),
    ),
    DegradationSpec(
        "blur",
        _CT,
        "in-plane Gaussian PSF (focal spot, detector aperture, smooth kernel), FWHM in mm",
        "clinical in-plane PSF FWHM ~0.6-1.2 mm; smooth kernels / large focal spot 2-4 mm "
        "(Verdun et al., Phys Med 31:823, 2015)",
        {
            "mild": {"fwhm_mm": (1.0, 1.5)},
            "moderate": {"fwhm_mm": (1.5, 2.5)},
            "severe": {"fwhm_mm": (2.5, 4.0)},
        },
        ct.blur,
        order=10,
    ),
    DegradationSpec(
        "ring",
        _CT,
        "detector gain errors constant over views: concentric rings",
        "Sijbers & Postnov, PMB 49:N247 (2004); uncorrected gain errors 0.15-1.2 % per channel, bad channels 0.6-6 %",
        {
            "mild": {"gain_std": (0.0015, 0.003), "bad_gain": (0.006, 0.015)},
            "moderate": {"gain_std": (0.003, 0.006), "bad_gain": (0.015, 0.03)},
            "severe": {"gain_std": (0.006, 0.012), "bad_gain": (0.03, 0.06)},
        },
        ct.ring,
        order=30,
        choices={"n_bad": (1, 2, 3, 4)},
        expand=_with_seed,
    ),
]

REGISTRY: dict[tuple[str, str], DegradationSpec] = {(s.modality, s.name): s for s in _SPECS}


def _check_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be 'MR' or 'CT', got {modality!r}")
    return modality


def vocabulary(modality: str) -> tuple[str, ...]:
    """``("clean", *types)`` in the registry's fixed order for ``"MR"`` or ``"CT"``."""
    m = _check_modality(modality)
    return ("clean", *(s.name for s in _SPECS if s.modality == m))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


@dataclass(frozen=True)
class DegradationRecord:
    """What a simulator did: enough to reproduce its output exactly.

    ``types``, ``severities`` and ``params`` are parallel tuples in application order;
    a clean record has ``types == ("clean",)``, ``severities == ("",)``.
    """

    modality: str
    types: tuple[str, ...]
    severities: tuple[str, ...]
    params: tuple[dict[str, Any], ...]
    seed: int

    @property
    def is_clean(self) -> bool:
        """True when nothing was applied."""
        return self.types == ("clean",)

    def label(self, vocab: Sequence[str]) -> np.ndarray:
        """Multi-hot float32 over ``vocab`` (one-hot on ``"clean"`` for a clean record)."""
        out = np.zeros(len(vocab), dtype=np.float32)
        for t in self.types:
            out[list(vocab).index(t)] = 1.0
        return out

    def severity_targets(self, vocab: Sequence[str]) -> np.ndarray:
        """int64 per vocab entry: 0 absent, 1 mild, 2 moderate, 3 severe."""
        out = np.zeros(len(vocab), dtype=np.int64)
        for t, s in zip(self.types, self.severities):
            if t != "clean":
                out[list(vocab).index(t)] = SEVERITIES.index(s) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return _jsonable(
            {
                "modality": self.modality,
                "types": list(self.types),
                "severities": list(self.severities),
                "params": list(self.params),
                "seed": int(self.seed),
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DegradationRecord:
        """Inverse of `to_dict`."""
        return cls(
            modality=d["modality"],
            types=tuple(d["types"]),
            severities=tuple(d["severities"]),
            params=tuple(dict(p) for p in d["params"]),
            seed=int(d["seed"]),
        )

    def to_json(self) -> str:
        """`to_dict` as a JSON string (collates through a DataLoader as a string)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> DegradationRecord:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(s))

    def describe(self) -> str:
        """One line, e.g. ``"MR: motion (moderate) + rician_noise (mild)"``."""
        if self.is_clean:
            return f"{self.modality}: clean"
        parts = [f"{t} ({s})" for t, s in zip(self.types, self.severities)]
        return f"{self.modality}: " + " + ".join(parts)


def draw_params(spec: DegradationSpec, severity: str, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one type's parameters at ``severity`` (uniform in its ranges)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    p: dict[str, Any] = {}
    for name, (lo, hi) in spec.severities[severity].items():
        v = float(rng.uniform(lo, hi))
        p[name] = int(round(v)) if name in spec.integer else v
    for name, opts in spec.choices.items():
        p[name] = _jsonable(opts[int(rng.integers(len(opts)))])
    return spec.expand(rng, p) if spec.expand else p


def _ordered(modality: str, names: Sequence[str]) -> list[DegradationSpec]:
    specs = []
    for n in names:
        if (modality, n) not in REGISTRY:
            raise ValueError(
                f"types: {n!r} is not a {modality} degradation ({vocabulary(modality)})"
            )
        specs.append(REGISTRY[(modality, n)])
    return sorted(specs, key=lambda s: s.order)


def sample_record(
    modality: str,
    seed: int,
    *,
    types: Sequence[str] | str | None = None,
    severity: Sequence[str] | str | None = None,
    p_clean: float = 0.15,
    p_mix: float = 0.3,
    max_types: int = 3,
) -> DegradationRecord:
    """Draw types, severities and parameters from ``seed``.

    Parameters
    ----------
    modality
        ``"MR"`` or ``"CT"``.
    seed
        Non-negative integer; the same seed gives the same record.
    types
        Force these types (or ``"clean"``); otherwise clean with probability
        ``p_clean``, else one type, or 2..``max_types`` with probability ``p_mix``.
    severity
        Force one severity for all types, or one per type; otherwise uniform.
    p_clean, p_mix
        Probabilities in [0, 1].
    max_types
        Largest mixture (1..number of types).
    """
    m = _check_modality(modality)
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, v in (("p_clean", p_clean), ("p_mix", p_mix)):
        mr.check_range(name, v, 0.0, 1.0)
    names = vocabulary(m)[1:]
    if not 1 <= max_types <= len(names):
        raise ValueError(f"max_types must be in [1, {len(names)}], got {max_types!r}")
    rng = np.random.default_rng(int(seed))
    if isinstance(types, str):
        types = (types,)
    if types is None:
        if rng.random() < p_clean:
            types = ("clean",)
        else:
            k = 1
            if max_types > 1 and rng.random() < p_mix:
                k = int(rng.integers(2, max_types + 1))
            types = tuple(names[i] for i in rng.choice(len(names), size=k, replace=False))
    if tuple(types) == ("clean",):
        return DegradationRecord(m, ("clean",), ("",), ({},), int(seed))
    if "clean" in types or len(set(types)) != len(types) or not types:
        raise ValueError(f"types must be distinct degradations or ('clean',), got {types!r}")
    specs = _ordered(m, types)
    if severity is None or isinstance(severity, str):
        sevs = [severity] * len(specs)
    else:
        if len(severity) != len(types):
            raise ValueError("severity needs one entry per type")
        by_name = dict(zip(types, severity))
        sevs = [by_name[s.name] for s in specs]
    out_sev, out_par = [], []
    for spec, sev in zip(specs, sevs):
        sev = sev if sev is not None else SEVERITIES[int(rng.integers(3))]
        out_sev.append(sev)
        out_par.append(draw_params(spec, sev, rng))
    return DegradationRecord(
        m, tuple(s.name for s in specs), tuple(out_sev), tuple(out_par), int(seed)
    )


def _to_numpy(image: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """numpy view of ``image`` and a function casting a result back to its kind/dtype."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(image, torch.Tensor):
        arr = image.detach().cpu().numpy()

        def back_t(out: np.ndarray) -> Any:
            res = image.detach().clone()
            res.copy_(torch.from_numpy(cast_like(out, arr.dtype)))
            return res

        return arr, back_t
    arr = np.asarray(image)
    return arr, lambda out: cast_like(out, arr.dtype)


def robust_max(x: np.ndarray) -> float:
    """The MR scale: 99.5th percentile of ``|x|`` (max or 1 if that is 0)."""
    a = np.abs(x)
    top = float(np.percentile(a, MR_PERCENTILE))
    if top <= 0:
        top = float(a.max()) if a.max() > 0 else 1.0
    return top


def apply_record(image: Any, record: DegradationRecord, spacing: Sequence[float]) -> Any:
    """Replay ``record`` on ``image``: same shape, dtype and kind (numpy/torch).

    Parameters
    ----------
    image
        ``(y, x)`` or ``(z, y, x)``; CT in HU, MR non-negative magnitude.
    record
        From `sample_record` (or `DegradationRecord.from_dict`).
    spacing
        mm per array axis, same length as ``image.ndim``.
    """
    arr, back = _to_numpy(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D (y, x) or 3-D (z, y, x), got shape {arr.shape}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != arr.ndim or min(spacing) <= 0:
        raise ValueError(f"spacing must be {arr.ndim} positive mm values, got {spacing!r}")
    m = _check_modality(record.modality)
    if record.is_clean:
        return back(arr.astype(np.float32))
    specs = _ordered(m, record.types)
    params = dict(zip(record.types, record.params))
    x = np.asarray(arr, dtype=np.float32)
    if m == "MR":
        if x.min() < -100.0 or (x.min() < 0 and -x.min() > 0.05 * robust_max(x)):
            raise ValueError(
                f"image: MR degradation {record.types[0]!r} needs a non-negative magnitude "
                f"image; values down to {x.min():.0f} look like CT in HU"
            )
        ctx: dict[str, Any] = {"scale": robust_max(x)}
        z = x.astype(np.complex64)
        for spec in specs:
            z = spec.function(z, spacing, ctx, **spec.function_params(params[spec.name]))
        out = np.abs(z)
    else:
        ctx = {"n_views": params.get("sparse_view", {}).get("n_views")}
        out = x
        for spec in specs:
            out = spec.function(out, spacing, ctx, **spec.function_params(params[spec.name]))
    return back(np.asarray(out, dtype=np.float32))


class RandomDegradation:
    """Draw a record from a seed and apply it (TorchIO-style random -> deterministic).

    Parameters
    ----------
    modality
        ``"MR"`` or ``"CT"``.
    p_clean, p_mix, max_types
        As in `sample_record`.
    """

    def __init__(
        self, modality: str, p_clean: float = 0.15, p_mix: float = 0.3, max_types: int = 3
    ) -> None:
        self.modality = _check_modality(modality)
        sample_record(modality, 0, p_clean=p_clean, p_mix=p_mix, max_types=max_types)
        self.p_clean, self.p_mix, self.max_types = p_clean, p_mix, max_types

    def __call__(
        self, image: Any, spacing: Sequence[float], seed: int
    ) -> tuple[Any, DegradationRecord]:
        """Degrade ``image`` (units mm for ``spacing``); returns ``(degraded, record)``."""
        rec = sample_record(
            self.modality, seed, p_clean=self.p_clean, p_mix=self.p_mix, max_types=self.max_types
        )
        return apply_record(image, rec, spacing), rec


def registry_table() -> str:
    """Markdown table: modality, type, severities with parameter ranges, physics."""
    rows = ["| modality | type | mild | moderate | severe | physics |", "|---|---|---|---|---|---|"]
    for s in _SPECS:
        cells = []
        for sev in SEVERITIES:
            cells.append(
                ", ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in s.severities[sev].items())
            )
        rows.append(f"| {s.modality} | {s.name} | " + " | ".join(cells) + f" | {s.physics} |")
    return "\n".join(rows)
