"""The DCPT classifier head and the network that couples it to the restoration backbone.

After Hu et al., "Universal Image Restoration Pre-training via Degradation
Classification" (ICLR 2025), slimmed for CPU: each registered decoder stage is
projected to a common width, turned into log local-energy maps, upsampled to the
finest registered scale, fused with softmax-normalised learned weights, passed
through a few small conv stages, pooled globally and mapped to multi-label logits
(and a severity per type).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from napari_dcpt.config import ModelConfig
from napari_dcpt.models.backbone import RestorationNet

N_SEVERITY = 4  # absent, mild, moderate, severe


class DegradationClassifier(nn.Module):
    """Multi-scale classifier over explicitly named backbone stages.

    Parameters
    ----------
    stage_channels
        Channels of each stage the head reads, in the order fused (names are the
        backbone's: ``middle``, ``dec.0``, ...).
    n_classes
        Vocabulary size (``clean`` included).
    width
        Common channel width after projection.
    conv_stages
        Stride-2 conv stages after fusion.
    severity
        Whether to output severity logits ``(B, n_classes, 4)``.
    spatial_dims
        2 or 3.
    """

    def __init__(
        self,
        stage_channels: dict[str, int],
        n_classes: int,
        width: int = 32,
        conv_stages: int = 2,
        severity: bool = True,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        if not stage_channels:
            raise ValueError("stage_channels: the classifier needs at least one stage")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.stages = tuple(stage_channels)
        self.spatial_dims = spatial_dims
        # ModuleDict keys may not contain '.', hence the renaming.
        self.proj = nn.ModuleDict(
            {s.replace(".", "_"): conv(c, width, 1) for s, c in stage_channels.items()}
        )
        self.stage_logits = nn.Parameter(torch.zeros(len(self.stages)))
        # Log-energies sit around -14..-2 and shift as the backbone trains; batch
        # statistics (per channel, over batch and space) standardise them without
        # removing the per-image energy level that a per-image norm would erase.
        bn = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d
        self.norm = bn(width)
        layers: list[nn.Module] = []
        for _ in range(conv_stages):
            # Depthwise-separable stride-2 convs keep the head slim (<< backbone). No
            # per-pixel LayerNorm: it would divide out exactly the local texture energy
            # (noise, ringing, streaks) the head has to measure.
            layers += [
                conv(width, width, 3, stride=2, padding=1, groups=width),
                conv(width, width, 1),
                nn.GELU(),
            ]
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(2 * width, n_classes)
        self.severity_fc = nn.Linear(2 * width, n_classes * N_SEVERITY) if severity else None
        self.n_classes = n_classes

    def forward(
        self, features: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, V)`` and severity logits ``(B, V, 4)`` (or None) from stage features.

        Raises
        ------
        ValueError
            A registered stage is missing from ``features`` (never silently skipped:
            the reference implementation's hooks found no features in single-process
            runs and trained on nothing).
        """
        missing = [s for s in self.stages if s not in features]
        if missing:
            raise ValueError(f"features: registered stage(s) {missing} were not provided")
        # Each stage becomes a log local-energy map: project, remove the 3x3 local
        # mean, square, average over 2x2, log. Degradations live in fine texture
        # (noise, ringing, streaks, blur's missing texture) whose energy is tiny next to
        # image content; a head that pooled linear projections saw only the content and
        # stayed at the label prior for 1000+ steps in training, while this one reached
        # noise AUC 0.94 within 200 steps of a probe (docs/architecture.md).
        # Texture-energy statistics are a classical texture descriptor; no library
        # layer does it, hence the few lines here. Coarser maps are upsampled (nearest)
        # to the finest one before the softmax-weighted fusion.
        maps = [self._log_energy(self.proj[s.replace(".", "_")](features[s])) for s in self.stages]
        target = max((m.shape[2:] for m in maps), key=lambda t: t.numel())
        projected = [
            m if m.shape[2:] == target else F.interpolate(m, size=target, mode="nearest")
            for m in maps
        ]
        w = torch.softmax(self.stage_logits, dim=0)
        fused = sum(wi * fi for wi, fi in zip(w, projected))
        h = self.convs(self.norm(fused)).flatten(2)
        # Mean and standard deviation pooling: the spread of the features over the
        # image carries texture energy that a mean alone loses.
        pooled = torch.cat([h.mean(-1), h.std(-1, unbiased=False)], dim=1)
        logits = self.fc(pooled)
        sev = None
        if self.severity_fc is not None:
            sev = self.severity_fc(pooled).view(-1, self.n_classes, N_SEVERITY)
        return logits, sev

    def _log_energy(self, f: torch.Tensor) -> torch.Tensor:
        """``log(mean_2x2((f - mean_3x3(f))**2) + eps)`` at half the input resolution."""
        pool = F.avg_pool2d if self.spatial_dims == 2 else F.avg_pool3d
        hp = f - pool(f, 3, 1, 1, count_include_pad=False)
        return torch.log(pool(hp.square(), 2, ceil_mode=True) + 1e-6)


class DCPTNet(nn.Module):
    """Restoration backbone plus DCPT classifier, one forward pass for both.

    ``model(x)`` returns the restored ``(B, 1, ...)`` tensor; ``model(x,
    return_aux=True)`` returns ``(restored, logits (B, V), severity_logits (B, V, 4)
    or None)`` from the same pass. ``aux_start=k`` classifies only samples ``k:``
    of the batch (DCPT pre-training concatenates clean and degraded patches so that
    one forward serves both losses, which DDP requires).

    Parameters
    ----------
    config
        The model configuration.
    n_classes
        Size of the degradation vocabulary (``clean`` included).
    """

    def __init__(self, config: ModelConfig, n_classes: int) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.config = config
        self.backbone = RestorationNet(config)
        chans = self.backbone.stage_channels
        self.classifier = DegradationClassifier(
            {s: chans[s] for s in config.classifier_stages},
            n_classes,
            width=config.classifier.width,
            conv_stages=config.classifier.conv_stages,
            severity=config.classifier.severity,
            spatial_dims=config.spatial_dims,
        )

    def forward(
        self, x: torch.Tensor, return_aux: bool = False, aux_start: int = 0
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not return_aux:
            return self.backbone(x)
        restored, feats = self.backbone(x, return_features=True)
        if aux_start:
            feats = {k: v[aux_start:] for k, v in feats.items()}
        logits, sev = self.classifier(feats)
        return restored, logits, sev


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_model(config: ModelConfig, n_classes: int) -> DCPTNet:
    """Build a freshly initialised `DCPTNet` (call ``torch.manual_seed`` first to fix it)."""
    return DCPTNet(config, n_classes)
