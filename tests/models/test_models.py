"""Backbone and DCPT classifier: shapes, padding, global residual, registered stages, size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from napari_dcpt.config import ClassifierConfig, ModelConfig, load_training_config
from napari_dcpt.models import build_model, count_parameters

CONFIGS = Path(__file__).parents[2] / "training" / "configs"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.mark.parametrize(
    ("cfg", "shape"),
    [
        (ModelConfig(width=8), (2, 1, 37, 50)),
        (ModelConfig(width=8, in_slices=3), (2, 3, 33, 31)),
        (ModelConfig(width=8, spatial_dims=3, enc_blocks=(1,), dec_blocks=(1,)), (1, 1, 9, 13, 10)),
    ],
)
def test_any_input_size_gives_one_output_channel(cfg: ModelConfig, shape: tuple) -> None:
    model = build_model(cfg, n_classes=5)
    x = torch.rand(shape)

    restored, logits, sev = model(x, return_aux=True)

    assert restored.shape == (shape[0], 1, *shape[2:])
    assert logits.shape == (shape[0], 5)
    assert sev.shape == (shape[0], 5, 4)
    assert torch.equal(model(x), restored)


def test_global_residual_restores_identity_when_ending_is_zero() -> None:
    model = build_model(ModelConfig(width=8, in_slices=3), n_classes=3)
    torch.nn.init.zeros_(model.backbone.ending.weight)
    torch.nn.init.zeros_(model.backbone.ending.bias)
    x = torch.rand(2, 3, 24, 24)

    out = model(x)

    torch.testing.assert_close(out, x[:, 1:2])


def test_wrong_channel_count_names_x() -> None:
    model = build_model(ModelConfig(width=8, in_slices=3), n_classes=3)
    with pytest.raises(ValueError, match="x: expected shape"):
        model(torch.rand(1, 1, 16, 16))


def test_classifier_gets_features_from_every_registered_stage() -> None:
    # The reference implementation's trap: hooks selected by a name pattern found no
    # feature in single-process runs. Here every registered stage must get a gradient.
    cfg = ModelConfig(width=8, enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 1))
    model = build_model(cfg, n_classes=4)
    x = torch.rand(2, 1, 32, 32)

    _, logits, _ = model(x, return_aux=True)
    logits.sum().backward()

    proj = model.classifier.proj
    assert set(model.classifier.stages) == {"middle", "dec.0", "dec.1", "dec.2"}
    for stage in model.classifier.stages:
        grad = proj[stage.replace(".", "_")].weight.grad
        assert grad is not None and grad.abs().sum() > 0, stage
    assert model.classifier.stage_logits.grad.abs().sum() > 0


def test_classifier_refuses_missing_stage() -> None:
    cfg = ModelConfig(width=8, classifier=ClassifierConfig(stages=("dec.0", "dec.1")))
    model = build_model(cfg, n_classes=3)
    _, feats = model.backbone(torch.rand(1, 1, 16, 16), return_features=True)
    del feats["dec.0"]

    with pytest.raises(ValueError, match="dec.0"):
        model.classifier(feats)


def test_classifier_reads_only_the_configured_stages() -> None:
    cfg = ModelConfig(width=8, classifier=ClassifierConfig(stages=("dec.1",)))
    model = build_model(cfg, n_classes=3)

    assert model.classifier.stages == ("dec.1",)


@pytest.mark.parametrize("name", ["mr.yaml", "ct.yaml", "tiny.yaml", "mr_head.yaml"])
def test_classifier_head_is_at_most_a_quarter_of_the_backbone(name: str) -> None:
    cfg = load_training_config(CONFIGS / name).model
    model = build_model(cfg, n_classes=9)

    body = count_parameters(model.backbone)
    kspace = sum(
        count_parameters(m)
        for n, m in model.classifier.named_children()
        if n.startswith("kspace") and m is not None
    )
    head = count_parameters(model.classifier) - kspace

    # DCPT's head reads every decoder stage and must stay slim; the optional k-space
    # branch reads only the input slice (an FFT and 64x64 maps) and is bounded apart.
    assert head <= body / 4, (head, body)
    assert kspace <= body / 3, (kspace, body)
    assert (kspace > 0) == cfg.classifier.kspace


def test_aux_start_classifies_only_the_second_half() -> None:
    model = build_model(ModelConfig(width=8), n_classes=3).eval()
    a, b = torch.rand(2, 1, 16, 16), torch.rand(3, 1, 16, 16)

    _, logits_cat, _ = model(torch.cat([a, b]), return_aux=True, aux_start=2)
    _, logits_b, _ = model(b, return_aux=True)

    assert logits_cat.shape == (3, 3)
    torch.testing.assert_close(logits_cat, logits_b, rtol=1e-5, atol=1e-5)


def test_importing_the_models_package_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, napari_dcpt.models; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_channel_layer_norm_matches_its_definition_in_2d_and_3d() -> None:
    from napari_dcpt.models.backbone import ChannelLayerNorm

    torch.manual_seed(0)
    for shape in ((2, 5, 7, 9), (2, 5, 3, 7, 9)):
        norm = ChannelLayerNorm(5)
        with torch.no_grad():
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
        x = torch.randn(shape) * 3 + 1
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        view = (1, -1) + (1,) * (x.ndim - 2)
        expected = (x - mu) / torch.sqrt(var + norm.eps) * norm.weight.view(view)
        expected = expected + norm.bias.view(view)
        torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)
        cl = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
        torch.testing.assert_close(norm(cl), expected, rtol=1e-5, atol=1e-5)


def test_kspace_branch_starts_at_zero_so_a_trained_head_keeps_its_predictions() -> None:
    plain = build_model(ModelConfig(width=8), n_classes=4).eval()
    cfg = ModelConfig(width=8, classifier=ClassifierConfig(kspace=True))
    with_branch = build_model(cfg, n_classes=4).eval()
    res = with_branch.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(2, 1, 45, 52)

    with torch.no_grad():
        _, logits_a, sev_a = plain(x, return_aux=True)
        _, logits_b, sev_b = with_branch(x, return_aux=True)

    assert res.unexpected_keys == []
    assert res.missing_keys and all(k.startswith("classifier.kspace") for k in res.missing_keys)
    assert torch.equal(logits_a, logits_b) and torch.equal(sev_a, sev_b)


@pytest.mark.parametrize("shape", [(2, 1, 45, 52), (1, 1, 17, 200), (1, 3, 40, 40)])
def test_kspace_branch_reads_any_slice_size_and_gets_a_gradient(shape: tuple) -> None:
    cfg = ModelConfig(width=8, in_slices=shape[1], classifier=ClassifierConfig(kspace=True))
    model = build_model(cfg, n_classes=4)
    torch.nn.init.normal_(model.classifier.kspace_fc.weight)

    _, logits, sev = model(torch.rand(shape), return_aux=True)
    logits.sum().backward()

    assert logits.shape == (shape[0], 4) and sev.shape == (shape[0], 4, 4)
    first = model.classifier.kspace.lines[0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_kspace_branch_needs_the_image_and_a_2d_model() -> None:
    model = build_model(ModelConfig(width=8, classifier=ClassifierConfig(kspace=True)), 3)
    _, feats = model.backbone(torch.rand(1, 1, 16, 16), return_features=True)

    with pytest.raises(ValueError, match="image: the k-space branch needs the input slice"):
        model.classifier(feats)
    with pytest.raises(ValueError, match="classifier.kspace needs spatial_dims 2"):
        ModelConfig(
            spatial_dims=3,
            enc_blocks=(1,),
            dec_blocks=(1,),
            classifier=ClassifierConfig(kspace=True),
        )
