"""Make docs/img/napari_widget.png: the DCPT Restore widget on the bundled low-dose CT sample.

Needs a display; on a headless machine run it under Xvfb::

    xvfb-run -a python docs/make_screenshot.py            # the shipped default CT model
    xvfb-run -a python docs/make_screenshot.py --weights my_ct.safetensors

Exits with status 1 and a one-line message when the default CT model is not installed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# torch before Qt: both bring their own threading runtimes, and Qt first has crashed torch
import torch  # noqa: F401

OUT = Path(__file__).resolve().parent / "img" / "napari_widget.png"


def _wait(widget: object, app: object, timeout_s: float = 600.0) -> None:
    """Keep the Qt event loop turning until the widget's worker has finished."""
    end = time.monotonic() + timeout_s
    while widget.busy:  # type: ignore[attr-defined]
        if time.monotonic() > end:
            raise TimeoutError("the DCPT job did not finish in time")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def _close_toasts(window: object) -> None:
    """Close pop-up notifications (e.g. napari's Qt-backend notice) so they are not in the shot."""
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification
    except ImportError:  # private napari module: a toast in the picture is no failure
        return
    for toast in window.findChildren(NapariQtNotification):  # type: ignore[attr-defined]
        toast.close()


def main(argv: list[str] | None = None) -> int:
    """Open the CT sample, classify, restore, compare, and save a grab of the window."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, help="CT weights file (default: the shipped model)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"PNG to write (default {OUT})")
    args = ap.parse_args(argv)

    from napari_dcpt.inference import DEFAULT_WEIGHTS

    if args.weights is None and not DEFAULT_WEIGHTS["CT"].exists():
        print(
            f"{DEFAULT_WEIGHTS['CT']}: the default CT model is not installed; train it "
            "(training/configs) or pass --weights FILE",
            file=sys.stderr,
        )
        return 1

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_dcpt.plugin._widget import FILE_MODEL, RestoreWidget

    viewer = napari.Viewer(show=True, title="napari-dcpt")
    app = QApplication.instance()
    window = viewer.window._qt_window
    window.resize(1500, 900)  # before any fit: the camera fits the canvas it has
    viewer.open_sample("napari-dcpt", "ct_low_dose")
    (source,) = viewer.layers
    # a throw-away settings file: a documentation run must not change the user's settings
    settings = Path(tempfile.mkdtemp()) / "widget.json"
    widget = RestoreWidget(viewer, settings_file=settings)
    viewer.window.add_dock_widget(widget, name="DCPT Restore", area="right")
    if args.weights is not None:
        widget.model_combo.setCurrentText(FILE_MODEL)
        widget.weights_edit.setText(str(args.weights))
    viewer.dims.set_point(0, source.translate[0] + source.scale[0] * (source.data.shape[0] // 2))

    widget.classify()
    _wait(widget, app)
    widget.restore()
    _wait(widget, app)
    name = f"{source.name} (restored)"
    if name not in viewer.layers:
        print(f"restoration failed: {widget.status.text()}", file=sys.stderr)
        viewer.close()
        return 1
    source.contrast_limits = (-160.0, 240.0)  # soft-tissue window (W 400, L 40), linked
    _close_toasts(window)
    for _ in range(20):  # let the canvas and the dock lay themselves out and draw
        app.processEvents()
        time.sleep(0.05)
    widget.compare_check.setChecked(True)  # the widget refits the view to both cells
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out))
    viewer.close()
    if not ok:
        print(f"{args.out}: could not write the screenshot", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
