"""Pydantic configurations shared by the CLI, the GUI, training and weights files.

Every field has bounds and a one-sentence description; unknown keys are rejected.
`load_training_config` turns any validation failure into a one-line
`napari_dcpt.errors.ConfigError` that names the offending key (``pretrain.steps``).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from napari_dcpt.errors import ConfigError


class _Strict(BaseModel):
    """Base: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# -- model -------------------------------------------------------------------------
class ClassifierConfig(_Strict):
    """The DCPT degradation classifier head that reads the backbone's decoder features."""

    stages: tuple[str, ...] | None = Field(
        None,
        description="Backbone stages whose features feed the classifier ('middle', "
        "'dec.0' coarsest decoder ... 'dec.N' finest); None means all of them.",
        min_length=1,
        max_length=8,
    )
    width: int = Field(
        32, ge=4, le=512, description="Common channel width every stage is projected to."
    )
    conv_stages: int = Field(
        2, ge=0, le=6, description="Number of stride-2 conv stages after the multi-scale fusion."
    )
    severity: bool = Field(
        True, description="Whether to predict a severity (absent/mild/moderate/severe) per type."
    )
    kspace: bool = Field(
        False,
        description="Whether the head also reads the input slice's k-space (2-D only): "
        "phase-encode artefacts such as ghosting and undersampling are global, and the "
        "backbone's local features do not show them.",
    )


class ModelConfig(_Strict):
    """The restoration backbone (NAFNet-style U-shaped network) plus its classifier head."""

    spatial_dims: Literal[2, 3] = Field(
        2, description="2 for slice-wise (or 2.5-D) networks, 3 for volumetric ones."
    )
    in_slices: int = Field(
        1,
        ge=1,
        le=15,
        description="Neighbouring slices given as channels (2.5-D, odd, 2-D only); "
        "the centre slice is restored.",
    )
    width: int = Field(16, ge=4, le=256, description="Channels at full resolution.")
    enc_blocks: tuple[int, ...] = Field(
        (1, 1),
        min_length=1,
        max_length=5,
        description="NAF blocks per encoder level; its length + 1 is the number of scales.",
    )
    middle_blocks: int = Field(
        1, ge=0, le=16, description="NAF blocks at the coarsest scale (bottleneck)."
    )
    dec_blocks: tuple[int, ...] = Field(
        (1, 1),
        min_length=1,
        max_length=5,
        description="NAF blocks per decoder level, coarsest first; same length as enc_blocks.",
    )
    classifier: ClassifierConfig = Field(
        default_factory=ClassifierConfig, description="The DCPT classifier head."
    )

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if len(self.dec_blocks) != len(self.enc_blocks):
            raise ValueError("dec_blocks must have the same length as enc_blocks")
        if any(b < 0 or b > 16 for b in (*self.enc_blocks, *self.dec_blocks)):
            raise ValueError("enc_blocks/dec_blocks entries must be between 0 and 16")
        if self.in_slices % 2 == 0:
            raise ValueError("in_slices must be odd (a centre slice is restored)")
        if self.spatial_dims == 3 and self.in_slices != 1:
            raise ValueError("in_slices must be 1 when spatial_dims is 3")
        if self.classifier.kspace and self.spatial_dims != 2:
            raise ValueError("classifier.kspace needs spatial_dims 2 (it reads 2-D slices)")
        if self.classifier.stages is not None:
            unknown = [s for s in self.classifier.stages if s not in self.stage_names]
            if unknown:
                raise ValueError(
                    f"classifier.stages: unknown stage(s) {unknown}; valid: {self.stage_names}"
                )
        return self

    @property
    def levels(self) -> int:
        """Number of scales (resolutions) of the U-shaped network."""
        return len(self.enc_blocks) + 1

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Names of the feature stages the backbone exposes, coarsest first."""
        return ("middle", *(f"dec.{i}" for i in range(len(self.dec_blocks))))

    @property
    def classifier_stages(self) -> tuple[str, ...]:
        """The stages the classifier reads (resolved default: all)."""
        return self.classifier.stages or self.stage_names


# -- training ----------------------------------------------------------------------
class DegradationSampling(_Strict):
    """How degradation records are drawn for each training sample."""

    types: tuple[str, ...] | None = Field(
        None, description="Degradation types to draw from (None: the modality's whole registry)."
    )
    p_clean: float = Field(0.15, ge=0.0, le=1.0, description="Share of clean (undegraded) inputs.")
    p_mix: float = Field(0.3, ge=0.0, le=1.0, description="Share of inputs with 2+ types mixed.")
    max_types: int = Field(3, ge=1, le=6, description="Most types mixed in one input.")


class DataConfig(_Strict):
    """Where the volumes are and how patches are cut from them."""

    root: str = Field(
        "", description="Folder searched recursively for NIfTI/NRRD/MHA files and DICOM series."
    )
    modality: Literal["MR", "CT"] = Field(
        "MR", description="Modality trained on; volumes tagged with another modality are dropped."
    )
    cache_dir: str | None = Field(
        None, description="Where the manifest JSON is cached (None: <run_dir>/cache)."
    )
    val_fraction: float = Field(
        0.2, ge=0.0, le=0.9, description="Share of series put in the validation split by hash."
    )
    split_seed: int = Field(0, ge=0, description="Seed of the series-level split hash.")
    train_files: tuple[str, ...] | None = Field(
        None, description="Glob patterns (relative to root) forcing files into training."
    )
    val_files: tuple[str, ...] | None = Field(
        None, description="Glob patterns (relative to root) forcing files into validation."
    )
    patch_size: int = Field(96, ge=16, le=512, description="Side of a square training patch (px).")
    batch_size: int = Field(16, ge=1, le=1024, description="Patches per optimisation step.")
    patches_per_slice: int = Field(
        4,
        ge=1,
        le=64,
        description="Patches cut from one degraded slice (amortises whole-slice simulation).",
    )
    num_workers: int = Field(1, ge=0, le=64, description="DataLoader worker processes.")
    min_foreground: float = Field(
        0.2, ge=0.0, le=1.0, description="Least foreground share of a slice eligible for sampling."
    )
    foreground_threshold: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Normalised intensity above which a pixel counts as foreground.",
    )
    max_slice_size: int = Field(
        512,
        ge=32,
        le=4096,
        description="Slices larger than this (px) are centre-cropped before degradation.",
    )
    cache_rate: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of volumes MONAI's CacheDataset keeps in memory."
    )
    augment: bool = Field(
        True,
        description=(
            "Draw a random view of each clean training slice before degrading it: slice axis"
            " (near-isotropic volumes), 90-degree turns, flips, in-plane zoom-out and, for MR,"
            " a gamma curve. Validation never is; configs that repeat runs made before it set"
            " false."
        ),
    )
    max_zoom_out: float = Field(
        2.0,
        ge=1.0,
        le=4.0,
        description="Largest in-plane downsampling of the augmentation (pixels up to this x coarser).",
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.batch_size % self.patches_per_slice:
            raise ValueError("batch_size must be a multiple of patches_per_slice")
        return self


class StageConfig(_Strict):
    """Optimisation settings of one training stage (pre-training or fine-tuning)."""

    steps: int = Field(1000, ge=1, le=10_000_000, description="Optimisation steps.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="AdamW learning rate of the network.")
    classifier_lr: float = Field(
        1e-3, gt=0.0, le=1.0, description="AdamW learning rate of the classifier head."
    )
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_steps: int = Field(
        0, ge=0, le=1_000_000, description="Linear learning-rate warm-up steps before cosine decay."
    )
    restoration_loss: Literal["l1", "psnr"] = Field(
        "l1",
        description=(
            "Restoration loss: 'l1' (mean absolute error over the batch) or 'psnr' (mean over"
            " samples of log10 of each sample's MSE plus a floor), which weights every"
            " sample by its own error so that noisy samples do not drown the subtle types."
        ),
    )
    psnr_floor_db: float = Field(
        40.0,
        ge=20.0,
        le=80.0,
        description=(
            "PSNR (dB, data range 1) at which the 'psnr' loss stops pushing a sample: its"
            " MSE is floored at 10**(-floor/10). Higher keeps pushing near-clean inputs."
        ),
    )
    cls_weight: float = Field(
        1.0, ge=0.0, le=100.0, description="Weight of the focal classification loss."
    )
    severity_weight: float = Field(
        0.5, ge=0.0, le=100.0, description="Weight of the severity cross-entropy loss."
    )
    grad_clip: float = Field(
        1.0, ge=0.0, le=1e6, description="Max gradient norm (0 disables clipping)."
    )
    ema_decay: float = Field(
        0.999, ge=0.0, lt=1.0, description="EMA decay of the weights (0 disables the EMA)."
    )
    checkpoint_every: int = Field(
        500, ge=1, le=10_000_000, description="Steps between atomic checkpoints."
    )
    val_every: int = Field(500, ge=1, le=10_000_000, description="Steps between validations.")
    val_samples: int = Field(
        32, ge=1, le=100_000, description="Validation slices (fixed seeds) per validation."
    )
    degradations: DegradationSampling = Field(
        default_factory=DegradationSampling, description="How degradations are drawn."
    )


class HeadStageConfig(StageConfig):
    """The whole-slice refit of the classifier head, backbone frozen (after fine-tuning)."""

    min_size: int = Field(
        48, ge=16, le=4096, description="Smallest crop side (px) of a training slice."
    )
    max_size: int = Field(
        256,
        ge=16,
        le=4096,
        description="Largest crop side (px) of a training slice; classify reads 256 px.",
    )

    @model_validator(mode="after")
    def _check_sizes(self) -> HeadStageConfig:
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        return self


class TrainingConfig(_Strict):
    """A whole training recipe: data, model, the two DCPT stages and the runtime."""

    seed: int = Field(0, ge=0, description="Global seed (sampling, initialisation).")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The network.")
    data: DataConfig = Field(default_factory=DataConfig, description="The data pipeline.")
    pretrain: StageConfig = Field(
        default_factory=lambda: StageConfig(
            degradations=DegradationSampling(p_clean=0.0, p_mix=0.3), ema_decay=0.0
        ),
        description="DCPT stage 1: degradation-classification pre-training.",
    )
    finetune: StageConfig = Field(
        default_factory=StageConfig, description="DCPT stage 2: all-in-one restoration."
    )
    head: HeadStageConfig = Field(
        default_factory=lambda: HeadStageConfig(
            steps=2000, classifier_lr=2e-3, warmup_steps=50, ema_decay=0.0
        ),
        description="Optional stage 3: the classifier head refit on whole slices, "
        "backbone frozen (restoration unchanged).",
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Torch threads (None: free cores minus data workers, at least 1).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Compute device; auto picks CUDA when present."
    )


def _format_error(err: ValidationError) -> str:
    """One line per pydantic error list: ``key.path: message; ...``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"].replace("Value error, ", "")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


# Inference defaults shared by restore(), the CLI, the widget and InferenceConfig;
# chosen from the tile/batch rows of benchmarks/results/speed.md.
DEFAULT_TILE = 512
DEFAULT_BATCH = 1

_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, source: str | PathLike[str] | None) -> _M:
    """Validate ``data`` as ``model``; any problem becomes one `ConfigError` line."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping of keys to values", source)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err), source) from None


def training_config_from_dict(
    data: dict[str, Any], source: str | PathLike[str] | None = None
) -> TrainingConfig:
    """Validate a plain dict as a `TrainingConfig`.

    Raises
    ------
    ConfigError
        One line naming each offending key (and ``source`` if given).
    """
    return _validate(TrainingConfig, data, source)


def load_training_config(path: str | PathLike[str]) -> TrainingConfig:
    """Read and validate a YAML training configuration.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or a key is unknown or out of range.
    """
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read the configuration ({err.strerror})", p) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML ({err})", p) from None
    return training_config_from_dict(data, p)


def model_config_from_json(text: str, source: str | PathLike[str] | None = None) -> ModelConfig:
    """Validate a JSON-encoded `ModelConfig` (as embedded in weights files)."""
    try:
        return ModelConfig.model_validate_json(text)
    except ValidationError as err:
        raise ConfigError(_format_error(err), source) from None


# -- inference (GUI and scripts) ---------------------------------------------------
class InferenceConfig(_Strict):
    """How one restoration or classification is run (the napari widget builds this)."""

    modality: Literal["auto", "MR", "CT"] = Field(
        "auto", description="Modality of the scan; auto reads the header or guesses it."
    )
    weights: str | None = Field(
        None, description="Weights file to use (None: the shipped default for the modality)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Compute device; auto picks CUDA when present."
    )
    tile: int = Field(
        DEFAULT_TILE,
        ge=32,
        le=2048,
        description="In-plane tile size in pixels (memory grows as its square).",
    )
    overlap: float = Field(
        0.125,
        ge=0.0,
        lt=0.9,  # restore() refuses 0.9 itself: tiles would barely advance
        description="Fraction of a tile shared with its neighbour, for seamless blending.",
    )
    batch_size: int = Field(
        DEFAULT_BATCH, ge=1, le=64, description="Slices or tiles run through the network at once."
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="Torch CPU threads (None: keep torch's own setting)."
    )
    scale_by_report: bool = Field(
        True,
        description="Scale the network's change by the share the report says will help "
        "(1 - p(clean) times the calibrated gain per type); False applies all of it.",
    )

    def restore_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `napari_dcpt.inference.restore` (modality left to the caller)."""
        return {
            "model": self.weights or None,
            "device": self.device,
            "tile": self.tile,
            "overlap": self.overlap,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "scale_by_report": self.scale_by_report,
        }


def inference_config_from_dict(
    data: dict[str, Any], source: str | PathLike[str] | None = None
) -> InferenceConfig:
    """Validate a plain dict as an `InferenceConfig`.

    Raises
    ------
    ConfigError
        One line naming each offending key (and ``source`` if given).
    """
    return _validate(InferenceConfig, data, source)
