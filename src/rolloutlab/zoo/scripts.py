"""Import a module of models/ (a folder of scripts the bentos are built from, not a package) by its path."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from rolloutlab.zoo.identity import models_dir


def load_script(name: str) -> ModuleType:
    """models/<name>.py as the module `rolloutlab_models_<name>` (private names: `training` is too common)."""
    module_name = f"rolloutlab_models_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, models_dir() / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {models_dir() / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while their classes are made
    spec.loader.exec_module(module)
    return module
