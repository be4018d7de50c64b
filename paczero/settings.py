"""config.yaml resolved for one preset: model and data sources, seed limit, recipe overrides.

A preset overrides recipe fields of every cell (`recipe`), maps model names
to other sources (`models`), sets default data sources (`data`) and may keep
only the first `max_seeds` seeds of each group. Preset overrides accept
numeric strings, because Snakemake's `--config` delivers nested values as
strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paczero.cells_schema import CellsError, load_yaml
from paczero.recipe_fields import (
    FIELD_NAMES,
    FIELDS_BY_NAME,
    IDENTITY_FIELDS,
    TASKS,
    check_value_type,
    closest_name,
)

DEFAULT_DATA_SOURCE = "hub"
# GPU type names that the SLURM executor plugin (2.8) accepts for its `gpu_model` resource.
GPU_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9_.]+$")

# Top-level keys of config.yaml and their defaults. The workflow's schema
# (workflow/schemas/config.schema.yaml) sets the same defaults.
CONFIG_DEFAULTS: dict[str, Any] = {
    "preset": "paper",
    "cells_file": "config/cells.yaml",
    "results": "results",
    "max_seeds": None,
    "models": {},
    "data": {},
    "presets": {"paper": {}},
    "checkpoint_every": 100,
    "gpu_models": {},
}
PRESET_KEYS = ("description", "cells_file", "cpu_only", "recipe", "task_recipe", "models", "data", "max_seeds")


@dataclass(frozen=True)
class Settings:
    """config.yaml resolved for one preset."""

    preset: str
    cells_file: str
    results: str
    models: dict[str, str]  # model name -> source, after the preset's mapping
    data: dict[str, str]  # task -> source, explicit config entries over the preset's
    max_seeds: int | None
    overrides: dict[str, Any] = field(default_factory=dict)  # typed recipe overrides
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> overrides after `overrides`
    gpu_models: dict[int, str] = field(default_factory=dict)  # GPU memory in GB -> SLURM GPU type
    cpu_only: bool = False  # every training job runs on the CPU and requests no GPU


def load_config(path: str | Path) -> dict:
    """Read config.yaml and fill in the defaults of missing top-level keys."""
    document = load_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise CellsError(f"{path}: must be a mapping of settings, got {type(document).__name__}")
    config = {key: value for key, value in CONFIG_DEFAULTS.items()}
    config.update(document)
    return config


def resolve_settings(config: Mapping, preset: str | None = None, *, source: str = "config.yaml") -> Settings:
    """Check a config mapping and resolve it for `preset` (default: config's `preset`).

    Data sources: an entry under `data` wins over the preset's `data`, which wins
    over "hub". Model sources: the preset's `models` win over the registry.
    """
    unknown = [key for key in config if key not in CONFIG_DEFAULTS]
    if unknown:
        key = unknown[0]
        raise CellsError(f"{source}: unknown key '{key}'{closest_name(key, list(CONFIG_DEFAULTS))}")
    config = {**CONFIG_DEFAULTS, **config}

    presets = _mapping(config["presets"], f"{source}: key 'presets'")
    name = preset if preset is not None else config["preset"]
    if not isinstance(name, str) or name not in presets:
        raise CellsError(
            f"{source}: unknown preset {name!r}{closest_name(str(name), list(presets))}; "
            f"known: {', '.join(presets)}"
        )
    spec = _mapping(presets[name] or {}, f"{source}: preset '{name}'")
    where = f"{source}: preset '{name}'"
    for key in spec:
        if key not in PRESET_KEYS:
            raise CellsError(f"{where}: unknown key '{key}'{closest_name(key, PRESET_KEYS)}")

    models = _string_mapping(config["models"], f"{source}: key 'models'")
    models.update(_string_mapping(spec.get("models") or {}, f"{where}: key 'models'"))
    explicit_data = _string_mapping(config["data"], f"{source}: key 'data'")
    preset_data = _string_mapping(spec.get("data") or {}, f"{where}: key 'data'")
    for task in [*explicit_data, *preset_data]:
        if task not in TASKS:
            raise CellsError(
                f"{source}: data source for unknown task '{task}'{closest_name(task, TASKS)}; "
                f"known: {', '.join(TASKS)}"
            )
    data = {task: explicit_data.get(task, preset_data.get(task, DEFAULT_DATA_SOURCE)) for task in TASKS}

    max_seeds, seeds_where = config["max_seeds"], source
    if max_seeds is None:
        max_seeds, seeds_where = spec.get("max_seeds"), where
    valid_count = isinstance(max_seeds, int) and not isinstance(max_seeds, bool) and max_seeds >= 1
    if max_seeds is not None and not valid_count:
        raise CellsError(f"{seeds_where}: key 'max_seeds' must be an integer >= 1 or null, got {max_seeds!r}")

    overrides = _check_overrides(spec.get("recipe") or {}, where)
    task_overrides = {}
    for task, task_spec in _mapping(spec.get("task_recipe") or {}, f"{where}: key 'task_recipe'").items():
        if task not in TASKS:
            raise CellsError(f"{where}: key 'task_recipe' names unknown task '{task}'{closest_name(task, TASKS)}")
        task_overrides[task] = _check_overrides(task_spec or {}, f"{where}: task_recipe '{task}'")
    for key in ("cells_file", "results"):
        if not isinstance(config[key], str) or not config[key]:
            raise CellsError(f"{source}: key '{key}' must be a non-empty path, got {config[key]!r}")
    # A preset with its own cells file (a reduced set of cells) replaces the config's.
    cells_file = spec.get("cells_file") or config["cells_file"]
    if not isinstance(cells_file, str):
        raise CellsError(f"{where}: key 'cells_file' must be a path, got {cells_file!r}")
    gpu_models = _gpu_models(config["gpu_models"], f"{source}: key 'gpu_models'")
    cpu_only = spec.get("cpu_only", False)
    if not isinstance(cpu_only, bool):
        raise CellsError(f"{where}: key 'cpu_only' must be true or false, got {cpu_only!r}")
    return Settings(
        preset=name,
        cells_file=cells_file,
        results=config["results"],
        models=models,
        data=data,
        max_seeds=max_seeds,
        overrides=overrides,
        task_overrides=task_overrides,
        gpu_models=gpu_models,
        cpu_only=cpu_only,
    )


def _mapping(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise CellsError(f"{where}: must be a mapping, got {value!r}")
    return value


def _string_mapping(value: Any, where: str) -> dict[str, str]:
    mapping = _mapping(value, where)
    for key, item in mapping.items():
        if not isinstance(item, str) or not item:
            raise CellsError(f"{where}: entry '{key}' must be a non-empty string, got {item!r}")
    return dict(mapping)


def _gpu_models(value: Any, where: str) -> dict[int, str]:
    """Check `gpu_models`: GPU memory in GB (an integer, or its string from --config) -> GPU type name."""
    models = {}
    for memory, name in _mapping(value or {}, where).items():
        try:
            gigabytes = int(memory)
        except (TypeError, ValueError):
            gigabytes = 0
        if isinstance(memory, bool) or gigabytes < 1 or str(gigabytes) != str(memory).strip():
            raise CellsError(f"{where}: entry {memory!r} must be a GPU memory size in GB, an integer >= 1")
        if not isinstance(name, str) or not GPU_MODEL_PATTERN.match(name):
            raise CellsError(
                f"{where}: entry {memory!r} must be a SLURM GPU type such as a100 "
                f"(letters, digits, '_' and '.'), got {name!r}"
            )
        models[gigabytes] = name
    return models


def _check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    overrides = _mapping(overrides, f"{where}: key 'recipe'")
    typed = {}
    for name, value in overrides.items():
        spec = FIELDS_BY_NAME.get(name)
        field_where = f"{where}: field 'recipe.{name}'"
        if spec is None:
            raise CellsError(f"{field_where}: unknown field{closest_name(name, FIELD_NAMES)}")
        if spec.set_by is not None:
            raise CellsError(f"{field_where}: cannot be overridden, it is set by {spec.set_by}")
        if name in IDENTITY_FIELDS:
            raise CellsError(f"{field_where}: cannot be overridden by a preset because it defines the cell")
        try:
            typed[name] = check_value_type(spec, value, coerce_strings=True)
        except ValueError as error:
            raise CellsError(f"{field_where}: {error}") from None
    return typed
