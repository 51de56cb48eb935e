"""Compose tests keep their uploaded files in a temporary VAR_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper


@pytest.fixture(autouse=True)
def _var_dir(settings: SettingsWrapper, tmp_path: Path) -> Path:
    var = tmp_path / "var"
    settings.VAR_DIR = var
    return var
