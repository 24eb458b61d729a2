"""Widget settings remembered between sessions: a JSON file in the user's config folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from napari_dcpt.config import InferenceConfig, inference_config_from_dict
from napari_dcpt.errors import ConfigError

#: Environment variable naming the folder that holds ``widget.json`` (tests point it
#: at a temporary folder so they never touch the user's settings).
CONFIG_DIR_ENV = "NAPARI_DCPT_CONFIG_DIR"


def settings_path() -> Path:
    """``$NAPARI_DCPT_CONFIG_DIR/widget.json``, else the platform's user config folder."""
    folder = os.environ.get(CONFIG_DIR_ENV)
    if not folder:
        import platformdirs  # a napari dependency; the plugin only runs where napari is

        folder = platformdirs.user_config_dir("napari-dcpt", appauthor=False)
    return Path(folder) / "widget.json"


def load_settings(path: Path | None = None) -> tuple[InferenceConfig, dict[str, Any], str | None]:
    """The saved `InferenceConfig`, the saved UI state and a warning if the file was bad.

    A missing file gives the defaults silently; an unreadable or invalid one gives
    the defaults plus a one-line warning (settings must never stop the widget).
    """
    p = path or settings_path()
    if not p.exists():
        return InferenceConfig(), {}, None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError("not a JSON object", p)
        ui = data.get("ui") if isinstance(data.get("ui"), dict) else {}
        return inference_config_from_dict(data.get("inference") or {}, p), ui, None
    except (OSError, ValueError, ConfigError) as exc:  # JSONDecodeError is a ValueError
        return InferenceConfig(), {}, f"{p}: settings ignored ({' '.join(str(exc).split())})"


def save_settings(config: InferenceConfig, ui: dict[str, Any], path: Path | None = None) -> None:
    """Write the settings atomically; a failure to save is not worth an error dialog."""
    from napari_dcpt.io.atomic import atomic_path

    p = path or settings_path()
    text = json.dumps({"inference": config.model_dump(), "ui": ui}, indent=2)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    except Exception:  # noqa: BLE001 -- read-only home, full disk: keep working without
        pass
