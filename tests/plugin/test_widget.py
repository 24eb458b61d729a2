"""The "DCPT Restore" dock widget driven through a real napari viewer (under Xvfb)."""

import time

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.napari

VOCAB = ("clean", "rician_noise", "blur")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny random MR model saved as a real weights file (no training)."""
    from napari_dcpt.config import ModelConfig
    from napari_dcpt.models import build_model, save_weights

    torch.manual_seed(0)
    cfg = ModelConfig(width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    net = build_model(cfg, len(VOCAB))
    path = tmp_path_factory.mktemp("w") / "tiny_mr.safetensors"
    save_weights(path, net, cfg, VOCAB, {"modality": "MR"})
    return path


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path, monkeypatch):
    # never read or write the real user's widget settings
    monkeypatch.setenv("NAPARI_DCPT_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def errors(monkeypatch):
    """Error notifications dispatched by napari during the test (messages)."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    seen = []

    def record(n):
        if n.severity == NotificationSeverity.ERROR:
            seen.append(str(n.message))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


def mr_layer_data(shape=(4, 48, 48), seed=0):
    """An anisotropic, translated MR volume as this plugin's reader would give it."""
    from napari_dcpt.io.geometry import affine_from_parts
    from napari_dcpt.plugin._layers import volume_to_layer_data
    from napari_dcpt.volume import Volume

    rng = np.random.default_rng(seed)
    arr = (rng.random(shape) * 400 + 100).astype(np.int16)
    # LPS directions: z along S, y along P, x along L (axis-aligned display, no flips)
    direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
    aff = affine_from_parts((-20.0, 35.5, 12.0), (3.0, 0.8, 0.9), direction)
    return volume_to_layer_data(Volume(arr, aff, modality="MR"), name="mr")


def add_mr(viewer, shape=(4, 48, 48)):
    data, kw, _ = mr_layer_data(shape)
    return viewer.add_image(data, **kw)


def camera(viewer):
    # napari 0.9 moved the camera to viewer.scene (the old attribute warns)
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def grid(viewer):
    # napari 0.9 moved the grid to viewer.canvas (the old attribute warns)
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def make_widget(viewer, weights, **settings):
    from napari_dcpt.plugin._widget import FILE_MODEL, RestoreWidget

    w = RestoreWidget(viewer)
    viewer.window.add_dock_widget(w, name="DCPT Restore")
    w.device_combo.setCurrentText("cpu")
    w.threads_spin.setValue(1)
    if weights is not None:
        w.model_combo.setCurrentText(FILE_MODEL)
        w.weights_edit.setText(str(weights))
    for name, value in settings.items():
        getattr(w, name).setValue(value)
    return w


def wait_idle(qtbot, widget, timeout=20_000):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def test_classify_then_restore_adds_layer_with_input_geometry(
    make_napari_viewer, qtbot, tiny_weights
):
    # Arrange
    viewer = make_napari_viewer()
    data, kw, _ = mr_layer_data()
    src = viewer.add_image(data, **kw)
    w = make_widget(viewer, tiny_weights)
    w.diff_check.setChecked(True)

    # Act: classify, then restore
    w.classify()
    wait_idle(qtbot, w)
    probs = [b.value() for b in w.report_bars]
    w.restore()
    assert w.restore_btn.text() == "Cancel"
    wait_idle(qtbot, w)

    # Assert: report bars, most likely first, one per degradation type
    assert len(probs) == len(VOCAB) - 1
    assert not any("not corrected" in b.format() for b in w.report_bars)  # uncalibrated
    assert probs == sorted(probs, reverse=True)
    assert "MR" in w.status.text() and "at strength" in w.status.text()
    out = viewer.layers["mr (restored)"]
    assert out.data.shape == src.data.shape and out.data.dtype == src.data.dtype
    assert tuple(out.scale) == pytest.approx(tuple(src.scale))
    assert tuple(out.translate) == pytest.approx(tuple(src.translate))
    assert not np.array_equal(out.data, src.data)
    assert out.metadata["napari_dcpt"]["affine"] == src.metadata["napari_dcpt"]["affine"]
    assert tuple(out.contrast_limits) == pytest.approx(tuple(src.contrast_limits))
    diff = viewer.layers["mr (difference)"].data
    np.testing.assert_allclose(diff, out.data.astype(np.float32) - src.data, atol=1e-3)
    assert w.restore_btn.text() == "Restore"

    # linked contrast: changing the input's window changes the restored one
    src.contrast_limits = (150.0, 300.0)
    assert tuple(out.contrast_limits) == pytest.approx((150.0, 300.0))
    w.compare_check.setChecked(True)
    assert grid(viewer).enabled


def test_compare_fits_both_panels_in_view(make_napari_viewer, qtbot, tiny_weights):
    # Arrange: compare ticked before there is anything to compare, the view fitted to
    # the input alone
    viewer = make_napari_viewer()
    add_mr(viewer, (4, 48, 96))
    viewer.reset_view()
    w = make_widget(viewer, tiny_weights)
    w.compare_check.setChecked(True)
    single = (camera(viewer).zoom, tuple(camera(viewer).center))

    # Act
    w.restore()
    wait_idle(qtbot, w)
    shown = (camera(viewer).zoom, tuple(camera(viewer).center))
    viewer.reset_view()

    # Assert: the grid holds two panels and the camera was refitted to them
    assert grid(viewer).enabled
    assert shown[0] == pytest.approx(camera(viewer).zoom) and shown[0] < single[0]
    assert shown[1] == pytest.approx(tuple(camera(viewer).center))

    # a preview that replaces the previous one adds no panel: the user's zoom stays
    w.preview()
    wait_idle(qtbot, w)
    camera(viewer).zoom = zoomed = 3.0 * camera(viewer).zoom
    w.preview()
    wait_idle(qtbot, w)
    assert camera(viewer).zoom == pytest.approx(zoomed)


def test_foreign_2d_layer_modality_is_guessed_and_said(make_napari_viewer, qtbot, tiny_weights):
    # Arrange: a plain 2-D layer from another reader (no metadata), anisotropic pixels
    rng = np.random.default_rng(1)
    viewer = make_napari_viewer()
    arr = rng.random((40, 44)).astype(np.float32) * 300
    viewer.add_image(arr, name="plain", scale=(0.5, 0.7), translate=(3.0, -4.0))
    w = make_widget(viewer, tiny_weights)

    # Act
    w.restore()
    wait_idle(qtbot, w)

    # Assert
    out = viewer.layers["plain (restored)"]
    assert out.data.shape == (40, 44)
    assert tuple(out.scale) == pytest.approx((0.5, 0.7))
    assert tuple(out.translate) == pytest.approx((3.0, -4.0))
    assert "guessed from intensities" in w.status.text()


def test_preview_restores_only_the_displayed_slice(make_napari_viewer, qtbot, tiny_weights):
    from napari_dcpt.inference import restore, run
    from napari_dcpt.plugin._layers import layer_to_volume

    # Arrange
    viewer = make_napari_viewer()
    data, kw, _ = mr_layer_data((6, 40, 40), seed=2)
    src = viewer.add_image(data, **kw)
    w = make_widget(viewer, tiny_weights)
    viewer.dims.set_point(0, src.translate[0] + 4 * src.scale[0])  # world z of slice 4

    # Act: twice (the preview is replaced, not stacked)
    for _ in range(2):
        w.preview()
        wait_idle(qtbot, w)

    # Assert
    previews = [lay for lay in viewer.layers if lay.name.endswith("(preview)")]
    assert len(previews) == 1
    prev = previews[0]
    assert prev.data.shape == (1, 40, 40)
    assert prev.translate[0] == pytest.approx(src.translate[0] + 4 * src.scale[0])
    vol = layer_to_volume(src.data, src.as_layer_data_tuple()[1])
    ref = run(restore(vol, model=tiny_weights, slices=[4], device="cpu", classify_slices=1))
    np.testing.assert_array_equal(prev.data[0], ref.volume.array[4])
    assert "preview of slice 4" in w.status.text()


def test_event_loop_runs_during_restore_and_cancel_adds_nothing(
    make_napari_viewer, qtbot, tiny_weights, monkeypatch
):
    from qtpy.QtCore import QTimer

    from napari_dcpt import inference

    real_restore = inference.restore

    def slow_restore(*args, **kwargs):
        gen = real_restore(*args, **kwargs)
        result = None
        try:
            while True:
                p = next(gen)
                time.sleep(0.1)  # a slow model: every step takes 0.1 s
                yield p
        except StopIteration as stop:
            result = stop.value
        return result

    monkeypatch.setattr(inference, "restore", slow_restore)
    viewer = make_napari_viewer()
    add_mr(viewer, (30, 48, 48))
    w = make_widget(viewer, tiny_weights, batch_spin=1)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    n_layers = len(viewer.layers)

    # Act: start, let it run a while, then press the button again (now "Cancel")
    w.restore()
    qtbot.waitUntil(lambda: w.progress_bar.value() >= 2, timeout=10_000)
    ticks_while_running = len(ticks)
    w.restore_btn.click()
    wait_idle(qtbot, w, timeout=10_000)
    timer.stop()

    # Assert: the GUI kept ticking, the job stopped early, nothing was added
    assert ticks_while_running >= 5
    assert len(viewer.layers) == n_layers
    assert w.restore_btn.text() == "Restore"
    assert "cancelled" in w.status.text()


def _points_only(viewer, tmp_path, weights):
    viewer.add_points(np.zeros((2, 2)))
    return weights, "no image layer"


def _rgb(viewer, tmp_path, weights):
    viewer.add_image(np.zeros((40, 40, 3), np.uint8), rgb=True, name="photo")
    return weights, "RGB"


def _four_d(viewer, tmp_path, weights):
    viewer.add_image(np.zeros((2, 3, 40, 40), np.float32), name="timeseries")
    return weights, "4-D"


def _missing_weights(viewer, tmp_path, weights):
    add_mr(viewer)
    return tmp_path / "absent.safetensors", "not found"


def _corrupt_weights(viewer, tmp_path, weights):
    add_mr(viewer)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + bytes(64))
    return bad, "bad.safetensors"


def _nan_image(viewer, tmp_path, weights):
    arr = np.full((3, 40, 40), 100.0, np.float32)
    arr[1, 5, 5] = np.nan
    viewer.add_image(arr, name="holes")
    return weights, "NaN"


def _radiograph(viewer, tmp_path, weights):
    # read by this plugin from a DICOM whose header says CR: not guessed as MR
    from napari_dcpt.plugin._layers import volume_to_layer_data
    from napari_dcpt.volume import Volume

    arr = (np.random.default_rng(2).random((40, 40)) * 900).astype(np.uint16)
    vol = Volume(arr, np.eye(4), modality="unknown", meta={"modality": "CR"})
    data, kw, _ = volume_to_layer_data(vol, name="chest x-ray")
    viewer.add_image(data, **kw)
    return None, "the DICOM header says modality CR"


def _radiograph_with_weights(viewer, tmp_path, weights):
    # a weights file's MR modality must not fill in for a header that says CR
    _radiograph(viewer, tmp_path, weights)
    return weights, "the DICOM header says modality CR"


def _default_weights_missing(viewer, tmp_path, weights):
    add_mr(viewer)
    return None, "default MR model is not installed"


@pytest.mark.parametrize(
    "setup",
    [_points_only, _rgb, _four_d, _missing_weights, _corrupt_weights, _nan_image,
     _default_weights_missing, _radiograph, _radiograph_with_weights],
)  # fmt: skip
def test_expected_errors_are_one_line_notifications(
    make_napari_viewer, qtbot, tmp_path, tiny_weights, errors, monkeypatch, setup
):
    from napari_dcpt.inference import engine

    # Arrange
    monkeypatch.setitem(engine.DEFAULT_WEIGHTS, "MR", tmp_path / "no_default.safetensors")
    viewer = make_napari_viewer()
    weights, expected = setup(viewer, tmp_path, tiny_weights)
    w = make_widget(viewer, weights)
    n_layers = len(viewer.layers)

    # Act
    w.restore()
    wait_idle(qtbot, w)

    # Assert: exactly one error notification, one line, saying what is wrong
    assert len(errors) == 1, errors
    assert expected in errors[0] and "\n" not in errors[0]
    assert len(viewer.layers) == n_layers
    assert w.restore_btn.text() == "Restore"


def test_settings_are_remembered_between_sessions(make_napari_viewer, tiny_weights):
    from napari_dcpt.plugin._widget import FILE_MODEL, RestoreWidget

    # Arrange
    viewer = make_napari_viewer()
    first = make_widget(viewer, tiny_weights, tile_spin=128, batch_spin=2)
    first.overlap_spin.setValue(0.25)
    first.modality_combo.setCurrentText("CT")
    assert first.config().scale_by_report  # the default
    first.scale_check.setChecked(False)

    # Act: a second widget (a new session) reads the same settings file
    second = RestoreWidget(viewer)
    viewer.window.add_dock_widget(second, name="second")

    # Assert
    cfg = second.config()
    assert (cfg.tile, cfg.batch_size, cfg.overlap) == (128, 2, 0.25)
    assert (cfg.modality, cfg.device, cfg.threads) == ("CT", "cpu", 1)
    assert cfg.scale_by_report is False
    assert second.model_combo.currentText() == FILE_MODEL
    assert cfg.weights == str(tiny_weights)


def test_bad_settings_file_gives_defaults_and_a_warning(tmp_path):
    from napari_dcpt.config import InferenceConfig
    from napari_dcpt.plugin._settings import load_settings

    path = tmp_path / "widget.json"
    path.write_text('{"inference": {"tile": 5}}')

    cfg, ui, warning = load_settings(path)

    assert cfg == InferenceConfig() and ui == {}
    assert "tile" in warning and "\n" not in warning


def test_widget_docks_from_the_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    add_mr(viewer)

    _dock, widget = viewer.window.add_plugin_dock_widget("napari-dcpt", "DCPT Restore")

    assert widget.layer_combo.currentText() == "mr"


@pytest.mark.parametrize(
    ("direction", "same_plane"),
    [
        # z along INFERIOR: the display flips the first axis
        (np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float), True),
        # sagittal acquisition: the first array axis runs along L, display permutes it
        (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], float), False),
    ],
)
def test_preview_maps_the_displayed_slice_through_the_reorientation(
    tiny_weights, direction, same_plane
):
    from napari_dcpt.config import InferenceConfig
    from napari_dcpt.inference import run
    from napari_dcpt.io.geometry import affine_from_parts
    from napari_dcpt.plugin._jobs import restore_job
    from napari_dcpt.plugin._layers import volume_to_layer_data
    from napari_dcpt.volume import Volume

    # Arrange: a layer as the reader shows it (reoriented for display)
    rng = np.random.default_rng(4)
    arr = (rng.random((12, 16, 20)) * 400 + 100).astype(np.int16)
    vol = Volume(arr, affine_from_parts((1.0, 2.0, 3.0), (2.0, 0.9, 0.8), direction), "MR")
    data, attrs, _ = volume_to_layer_data(vol, name="v")
    cfg = InferenceConfig(weights=str(tiny_weights), device="cpu", threads=1)
    index = 3

    # Act
    full = run(restore_job(data, attrs, "v", "auto", cfg))
    prev = run(restore_job(data, attrs, "v", "auto", cfg, preview_index=index))

    # Assert: the preview is the displayed slice, at the full restore's values
    # when the display shows acquisition slices
    assert prev.data.shape == (1, *data.shape[1:])
    assert not np.array_equal(prev.data[0], data[index])
    if same_plane:
        np.testing.assert_allclose(prev.data[0], full.data[index], atol=1)


def test_report_marks_detected_findings_the_model_does_not_correct(make_napari_viewer):
    from napari_dcpt.inference.report import DegradationReport, Finding

    w = make_widget(make_napari_viewer(), None)
    findings = (
        Finding("bias_field", 0.8, "mild", gain=0.0),  # detected, not corrected
        Finding("rician_noise", 0.7, "moderate", gain=1.0),  # detected, corrected
        Finding("ghosting", 0.2, "mild", gain=0.0),  # not detected: no note
        Finding("motion", 0.3, "mild", gain=0.0, recall=0.1),  # rarely named when present
    )
    w._show_report(DegradationReport("MR", findings, 0.1))
    texts = [b.format() for b in w.report_bars]
    assert texts == [
        "p=0.80  mild  (not corrected)",
        "p=0.70  moderate",
        "p=0.20  —",
        "p=0.30  —  (unreliable)",
    ]
    assert w.clean_label.text() == "nothing wrong: p=0.10"
    w._show_report(DegradationReport("MR", findings[2:], 0.4))  # nothing named, clean < 0.5
    assert w.clean_label.text() == "nothing wrong: p=0.40  (unclear: no type reaches 0.50)"
