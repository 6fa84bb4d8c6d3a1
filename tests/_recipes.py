"""Import a program of ``recipes/`` as a module, the way ``python recipes/<name>.py`` runs it.

The recipes import their shared helpers as ``_common`` from their own folder, which
``python recipes/<name>.py`` puts on ``sys.path``; here the folder is appended once.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def load_recipe(name: str) -> ModuleType:
    """The module ``recipes/<name>.py``."""
    if str(RECIPES) not in sys.path:
        sys.path.append(str(RECIPES))
    return importlib.import_module(name)
