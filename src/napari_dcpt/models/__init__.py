"""Restoration backbone, DCPT classifier head and weights I/O (imports torch lazily).

Public API
----------
``build_model(config: ModelConfig, n_classes: int) -> DCPTNet``
    A fresh network. ``DCPTNet.forward(x)`` takes float32 ``(B, C, H, W)`` (2-D;
    ``C = config.in_slices`` neighbouring slices, the centre one is restored) or
    ``(B, 1, D, H, W)`` (3-D) in network units (`napari_dcpt.inference.normalise`)
    of any spatial size and returns the restored ``(B, 1, ...)``.
    ``DCPTNet.forward(x, return_aux=True) -> (restored, logits, severity_logits)``:
    multi-label logits ``(B, V)`` over the vocabulary (``clean`` included; apply a
    sigmoid) and severity logits ``(B, V, 4)`` (absent/mild/moderate/severe; softmax
    over the last axis) or ``None`` when the config has no severity head, all from
    the same forward pass.
``save_weights(path, model, config, vocabulary, extra_meta=None) -> Path``
``load_weights(path, device="cpu") -> (DCPTNet in eval mode, ModelConfig, vocabulary)``
    Safetensors with config, vocabulary and a checksum embedded; raises
    `napari_dcpt.errors.WeightsError` on anything wrong with the file.
``read_metadata(path) -> dict`` (model_config, vocabulary, extra)
``count_parameters(module) -> int``
``SEVERITY_NAMES``: the four severity classes, index order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari_dcpt.models.weights import load_weights, read_metadata, save_weights

if TYPE_CHECKING:
    from napari_dcpt.models.dcpt import DCPTNet, build_model, count_parameters

SEVERITY_NAMES = ("absent", "mild", "moderate", "severe")

__all__ = [
    "SEVERITY_NAMES",
    "DCPTNet",
    "build_model",
    "count_parameters",
    "load_weights",
    "read_metadata",
    "save_weights",
]


def __getattr__(name: str) -> Any:
    # torch loads on first use of the network classes, not on `import napari_dcpt.models`.
    if name in ("DCPTNet", "build_model", "count_parameters"):
        from napari_dcpt.models import dcpt

        return getattr(dcpt, name)
    raise AttributeError(name)
