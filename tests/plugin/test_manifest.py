"""The plugin is discoverable and importing it stays light."""

import os
import subprocess
import sys

import pytest


def test_npe2_manifest_validates_with_imports():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-dcpt")
    pm.validate_imports()
    assert pm.name == "napari-dcpt"


def test_import_is_light():
    code = (
        "import sys, napari_dcpt, napari_dcpt.plugin._reader, napari_dcpt.io;"
        "bad=[m for m in ('torch','monai','napari','qtpy') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.slow
def test_wheel_install_in_fresh_venv_finds_plugin(tmp_path):
    """Build the wheel, install it (no deps) in a venv that sees our site-packages."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    # Install into a bare target folder placed first on sys.path: the wheel's own
    # files and dist-info (not the editable checkout) must provide the manifest.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    py = sys.executable
    code = (
        "import napari_dcpt; from npe2 import PluginManifest;"
        "pm = PluginManifest.from_distribution('napari-dcpt');"
        "assert 'site' in napari_dcpt.__file__ and 'src' not in napari_dcpt.__file__, napari_dcpt.__file__;"
        "print(pm.name, len(pm.contributions.readers))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["napari-dcpt", "1"]
