"""The "DCPT Restore" dock widget: builds an `InferenceConfig` and runs the library's jobs.

No computation happens here: the widget reads its controls into an `InferenceConfig`,
hands the layer's data to `napari_dcpt.plugin._jobs` in a napari thread worker and
turns what comes back into layers, bars and notifications.
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_dcpt.config import InferenceConfig
from napari_dcpt.errors import DcptError
from napari_dcpt.plugin import _jobs
from napari_dcpt.plugin._layers import KEY
from napari_dcpt.plugin._settings import load_settings, save_settings

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Layer

    from napari_dcpt.inference import DegradationReport, Progress

DEFAULT_MODEL = "default for the modality"
FILE_MODEL = "weights file"


class RestoreWidget(QWidget):
    """Classify, preview and restore the selected image layer with a DCPT model.

    Parameters
    ----------
    napari_viewer
        The viewer the widget is docked in.
    settings_file
        JSON file for remembered settings (default: the user's config folder;
        tests pass a temporary file).
    """

    def __init__(
        self, napari_viewer: napari.viewer.Viewer, settings_file: Path | None = None
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._settings_file = settings_file
        self._worker: Any = None
        self._pbar: Any = None
        self._loading = True
        self.report_bars: list[QProgressBar] = []
        self.clean_label: QLabel | None = None  # the report's "nothing wrong" line

        # -- controls -----------------------------------------------------------
        self.layer_combo = QComboBox()
        self.modality_combo = QComboBox()
        self.modality_combo.addItems(["auto", "MR", "CT"])
        self.model_combo = QComboBox()
        self.model_combo.addItems([DEFAULT_MODEL, FILE_MODEL])
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("path/to/model.safetensors")
        self.browse_btn = QPushButton("Browse…")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])

        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(32, 2048)
        self.tile_spin.setSingleStep(32)
        self.tile_spin.setSuffix(" px")
        self.overlap_spin = QDoubleSpinBox()
        self.overlap_spin.setRange(0.0, 0.85)
        self.overlap_spin.setDecimals(3)
        self.overlap_spin.setSingleStep(0.025)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 64)
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText("auto")  # 0 means "keep torch's setting"
        self.scale_check = QCheckBox("Scale the change by the report")
        self.scale_check.setToolTip(
            "Apply the share of the network's change that the report says will help: "
            "1 − p(clean), times the model's calibrated gain for the types it sees. "
            "Untick to apply all of it."
        )

        self.diff_check = QCheckBox("Add a difference layer (restored − input)")
        self.compare_check = QCheckBox("Compare before/after side by side")
        self.compare_check.setToolTip(
            "napari's grid mode: layers side by side in the order they were added, so the "
            "input sits left of its restored copy. Other layers get panels too; hide them "
            "to compare just the two. Contrast is linked, the camera shared."
        )

        self.classify_btn = QPushButton("Classify")
        self.preview_btn = QPushButton("Preview slice")
        self.restore_btn = QPushButton("Restore")
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        self.progress_bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.report_box = QGroupBox("Degradation report")
        self.report_layout = QFormLayout(self.report_box)

        # -- layout -------------------------------------------------------------
        form = QFormLayout()
        form.addRow("Image", self.layer_combo)
        form.addRow("Modality", self.modality_combo)
        form.addRow("Model", self.model_combo)
        row = QHBoxLayout()
        row.addWidget(self.weights_edit)
        row.addWidget(self.browse_btn)
        form.addRow("", row)
        form.addRow("Device", self.device_combo)
        advanced = QWidget()
        adv = QFormLayout(advanced)
        adv.addRow("Tile size", self.tile_spin)
        adv.addRow("Overlap", self.overlap_spin)
        adv.addRow("Batch size", self.batch_spin)
        adv.addRow("CPU threads", self.threads_spin)
        adv.addRow("", self.scale_check)
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(advanced)
        buttons = QHBoxLayout()
        for b in (self.classify_btn, self.preview_btn, self.restore_btn):
            buttons.addWidget(b)
        main = QVBoxLayout(self)
        main.addLayout(form)
        main.addWidget(self.advanced)
        main.addWidget(self.diff_check)
        main.addWidget(self.compare_check)
        main.addLayout(buttons)
        main.addWidget(self.progress_bar)
        main.addWidget(self.status)
        main.addWidget(self.report_box)
        main.addStretch(1)

        # -- state and signals --------------------------------------------------
        self._apply_settings()
        self._on_model_kind()
        self.classify_btn.clicked.connect(self.classify)
        self.preview_btn.clicked.connect(self.preview)
        self.restore_btn.clicked.connect(self._on_restore_clicked)
        self.browse_btn.clicked.connect(self._browse)
        self.model_combo.currentIndexChanged.connect(self._on_model_kind)
        self.compare_check.toggled.connect(self._on_compare)
        for sig in (
            self.modality_combo.currentIndexChanged,
            self.model_combo.currentIndexChanged,
            self.weights_edit.editingFinished,
            self.device_combo.currentIndexChanged,
            self.tile_spin.valueChanged,
            self.overlap_spin.valueChanged,
            self.batch_spin.valueChanged,
            self.threads_spin.valueChanged,
            self.scale_check.toggled,
            self.diff_check.toggled,
        ):
            sig.connect(self._save)
        layers = self.viewer.layers
        for ev in (layers.events.inserted, layers.events.removed, layers.events.moved):
            ev.connect(self._refresh_layers)
        layers.events.inserted.connect(self._watch_name)
        layers.selection.events.active.connect(self._on_active)
        for layer in layers:
            layer.events.name.connect(self._refresh_layers)
        self._refresh_layers()
        self._loading = False

    # -- settings --------------------------------------------------------------
    def config(self) -> InferenceConfig:
        """The `InferenceConfig` the controls describe.

        Raises
        ------
        DcptError
            "weights file" is chosen but no file is given.
        """
        weights = None
        if self.model_combo.currentText() == FILE_MODEL:
            weights = self.weights_edit.text().strip()
            if not weights:
                raise DcptError("choose a weights file (Model), or the default model")
        return InferenceConfig(
            modality=self.modality_combo.currentText(),
            weights=weights,
            device=self.device_combo.currentText(),
            tile=self.tile_spin.value(),
            overlap=round(self.overlap_spin.value(), 3),
            batch_size=self.batch_spin.value(),
            threads=self.threads_spin.value() or None,
            scale_by_report=self.scale_check.isChecked(),
        )

    def _apply_settings(self) -> None:
        cfg, ui, warning = load_settings(self._settings_file)
        if warning:
            show_warning(warning)
        self.modality_combo.setCurrentText(cfg.modality)
        self.device_combo.setCurrentText(cfg.device)
        self.weights_edit.setText(cfg.weights or str(ui.get("last_weights") or ""))
        self.model_combo.setCurrentText(FILE_MODEL if cfg.weights else DEFAULT_MODEL)
        self.tile_spin.setValue(cfg.tile)
        self.overlap_spin.setValue(cfg.overlap)
        self.batch_spin.setValue(cfg.batch_size)
        self.threads_spin.setValue(cfg.threads or 0)
        self.scale_check.setChecked(cfg.scale_by_report)
        self.diff_check.setChecked(bool(ui.get("difference", False)))

    def _save(self, *_: Any) -> None:
        if self._loading:
            return
        try:
            cfg = self.config()
        except DcptError:  # "weights file" chosen, path not typed yet: remember the rest
            cfg = self.config_without_weights()
        ui = {"difference": self.diff_check.isChecked(), "last_weights": self.weights_edit.text()}
        save_settings(cfg, ui, self._settings_file)

    def config_without_weights(self) -> InferenceConfig:
        """The controls' config with the default model (used while no file is chosen)."""
        idx = self.model_combo.currentIndex()
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentText(DEFAULT_MODEL)
        try:
            return self.config()
        finally:
            self.model_combo.setCurrentIndex(idx)
            self.model_combo.blockSignals(False)

    # -- layer picker ----------------------------------------------------------
    def _image_layers(self) -> list[Image]:
        from napari.layers import Image

        return [lay for lay in self.viewer.layers if isinstance(lay, Image)]

    def _refresh_layers(self, *_: Any) -> None:
        current = self.layer_combo.currentText()
        names = [lay.name for lay in self._image_layers()]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)

    def _watch_name(self, event: Any) -> None:
        event.value.events.name.connect(self._refresh_layers)

    def _on_active(self, event: Any) -> None:
        from napari.layers import Image

        if isinstance(event.value, Image) and not self._is_ours(event.value):
            self.layer_combo.setCurrentText(event.value.name)

    def _is_ours(self, layer: Layer) -> bool:
        # the picker must not jump to the layers this widget adds while it works
        return layer.name.endswith(("(restored)", "(preview)", "(difference)"))

    def selected_layer(self) -> Image:
        """The image layer picked in the widget.

        Raises
        ------
        DcptError
            No image layer is open.
        """
        name = self.layer_combo.currentText()
        for layer in self._image_layers():
            if layer.name == name:
                return layer
        active = self.viewer.layers.selection.active
        kind = f" (the selected layer {active.name!r} is not an image)" if active else ""
        raise DcptError(f"no image layer to work on{kind}; open or select an image")

    # -- actions -----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a classification or restoration is running."""
        return self._worker is not None

    def classify(self) -> None:
        """Classify the picked layer's degradations in a worker; the report fills the bars."""
        self._start("classify")

    def preview(self) -> None:
        """Restore only the displayed slice of the picked layer, as a "(preview)" layer."""
        self._start("preview")

    def restore(self) -> None:
        """Restore the whole picked layer into a new "(restored)" layer."""
        self._start("restore")

    def cancel(self) -> None:
        """Stop the running job; nothing is added to the viewer."""
        if self._worker is not None:
            self._worker.quit()
            self.status.setText("cancelling…")

    def _on_restore_clicked(self) -> None:
        if self.busy:
            self.cancel()
        else:
            self.restore()

    def _start(self, kind: str) -> None:
        from napari.qt.threading import create_worker

        if self.busy:
            show_info("DCPT: a job is already running; wait for it or cancel it")
            return
        try:
            layer = self.selected_layer()
            data, attrs, ltype = layer.as_layer_data_tuple()
            _jobs.check_layer(layer.name, layer.ndim, attrs, ltype)
            cfg = self.config()
        except (DcptError, ValueError) as exc:
            self._fail(str(exc))
            return
        self._save()
        args = (data, attrs, layer.name, cfg.modality, cfg)
        if kind == "classify":
            worker = create_worker(
                _jobs.classify_job, *args, _start_thread=False,
                _connect={"errored": self._on_errored},
            )  # fmt: skip
        else:
            index = self._display_index(layer) if kind == "preview" else None
            worker = create_worker(
                _jobs.restore_job, *args, preview_index=index,
                difference=kind == "restore" and self.diff_check.isChecked(),
                _start_thread=False, _connect={"errored": self._on_errored},
            )  # fmt: skip
            worker.yielded.connect(self._on_progress)
        worker.returned.connect(partial(self._on_returned, layer, attrs))
        worker.finished.connect(self._on_finished)
        self._set_running(kind)
        self._worker = worker
        worker.start()

    def _display_index(self, layer: Layer) -> int:
        """Data index of the displayed slice along the layer's first axis."""
        if layer.ndim < 3:
            return 0
        pos = layer.world_to_data(self.viewer.dims.point)
        return int(np.clip(round(float(pos[0])), 0, layer.data.shape[0] - 1))

    def _set_running(self, kind: str) -> None:
        from napari.utils import progress

        self._pbar = progress(total=0, desc=f"DCPT {kind}")
        self.restore_btn.setText("Cancel")
        self.classify_btn.setEnabled(False)
        self.preview_btn.setEnabled(False)
        self.progress_bar.setRange(0, 0)  # busy until the first progress event
        self.progress_bar.setFormat(f"{kind}…")
        self.status.setText(f"{kind}…")

    # -- worker callbacks (GUI thread) -------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        self.progress_bar.setFormat(f"{p.stage} %v/%m")
        if self._pbar is not None:
            self._pbar.total = p.total
            self._pbar.n = p.done
            self._pbar.set_description(f"DCPT {p.stage}")

    def _on_returned(self, layer: Layer, attrs: dict[str, Any], result: Any) -> None:
        if isinstance(result, _jobs.Failed):
            self._fail(result.message)
            return
        self._show_report(result.report)
        if isinstance(result, _jobs.Classified):
            self.status.setText(f"{result.modality_note}. {result.report.summary()}")
            return
        self._add_result_layers(layer, attrs, result)
        what = "preview of slice" if result.preview_index is not None else "restored in"
        where = f" {result.preview_index}," if result.preview_index is not None else ""
        self.status.setText(
            f"{what}{where} {result.seconds:.1f} s at strength {result.strength:.2f}; "
            f"{result.modality_note}. {result.report.summary()}"
        )

    def _on_errored(self, exc: BaseException) -> None:
        # Unexpected errors only (expected ones come back as _jobs.Failed); napari's
        # worker has already shown them with a traceback, so only reset the status.
        self.status.setText(f"failed: {' '.join(str(exc).split())}")

    def _on_finished(self) -> None:
        self._worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.restore_btn.setText("Restore")
        self.classify_btn.setEnabled(True)
        self.preview_btn.setEnabled(True)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("idle")
        if self.status.text() == "cancelling…":
            self.status.setText("cancelled; the viewer is unchanged")

    def _fail(self, message: str) -> None:
        show_error(message)
        self.status.setText(message)

    # -- results -------------------------------------------------------------------
    def _show_report(self, report: DegradationReport) -> None:
        while self.report_layout.rowCount():
            self.report_layout.removeRow(0)
        self.report_bars = []
        for f in report.findings:  # already sorted, most likely first
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(round(100 * f.probability))
            sev = f.severity if f.probability >= report.threshold else "—"
            fix = "" if f.corrected or f.probability < report.threshold else "  (not corrected)"
            # a type the report rarely names when present: its bar says little either way
            fix += "" if f.reliable else "  (unreliable)"
            bar.setFormat(f"p={f.probability:.2f}  {sev}{fix}")
            bar.setToolTip(f.label())
            self.report_bars.append(bar)
            self.report_layout.addRow(f.type.replace("_", " "), bar)
        text = f"nothing wrong: p={report.clean_probability:.2f}"
        if report.verdict == "unclear":  # neither a type nor clean reaches the threshold
            text += f"  (unclear: no type reaches {report.threshold:.2f})"
        self.clean_label = clean = QLabel(text)
        clean.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.report_layout.addRow(clean)

    def _add_result_layers(self, source: Layer, attrs: dict[str, Any], result: Any) -> None:
        base = attrs["name"]
        kwargs = {k: v for k, v in attrs.items() if k not in ("name", "metadata", "data")}
        metadata = copy.deepcopy(attrs.get("metadata") or {})
        metadata.setdefault(KEY, {})["restored_from"] = base
        if result.preview_index is not None and source.ndim == 3:
            # a one-slice layer placed where that slice is in the world
            from napari.utils.transforms import CompositeAffine

            t = CompositeAffine(
                scale=attrs["scale"], translate=attrs["translate"], rotate=attrs["rotate"],
                shear=attrs["shear"], ndim=source.ndim,
            )  # fmt: skip
            kwargs["translate"] = tuple(t([result.preview_index, 0, 0]))
        suffix = "(preview)" if result.preview_index is not None else "(restored)"
        name = f"{base} {suffix}"
        replaced = suffix == "(preview)" and name in self.viewer.layers
        if replaced:
            self.viewer.layers.remove(name)  # a preview is replaced, never stacked
        new = self.viewer.add_image(result.data, name=name, metadata=metadata, **kwargs)
        new.contrast_limits = attrs["contrast_limits"]
        if source in self.viewer.layers:
            from napari.experimental import link_layers

            link_layers([source, new], ("contrast_limits",))
        if result.difference is not None:
            lim = result.difference_limit
            self.viewer.add_image(
                result.difference, name=f"{base} (difference)", colormap="PiYG",
                contrast_limits=(-lim, lim), scale=attrs["scale"],
                translate=attrs["translate"], visible=False,
            )  # fmt: skip
        self.viewer.layers.selection.active = new
        if self.compare_check.isChecked():
            # a new panel: refit; a replaced preview keeps the user's zoom and pan
            self._grid().enabled = True
            if not replaced:
                self.viewer.reset_view()

    def _grid(self) -> Any:
        # napari 0.9 moved the grid to viewer.canvas; older versions have viewer.grid
        canvas = getattr(self.viewer, "canvas", None)
        return canvas.grid if hasattr(canvas, "grid") else self.viewer.grid

    def _on_compare(self, on: bool) -> None:
        """Before/after side by side (napari's grid mode), contrast linked at creation."""
        self._grid().enabled = on
        if on:
            # The camera keeps the one-image zoom otherwise, so each panel shows only
            # the middle of its image (napari does not refit when the grid changes)
            self.viewer.reset_view()

    def _on_model_kind(self, *_: Any) -> None:
        use_file = self.model_combo.currentText() == FILE_MODEL
        self.weights_edit.setEnabled(use_file)
        self.browse_btn.setEnabled(use_file)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "DCPT weights file", self.weights_edit.text(), "Weights (*.safetensors)"
        )
        if path:
            self.weights_edit.setText(path)
            self.model_combo.setCurrentText(FILE_MODEL)
            self._save()
