import json

import pytest

from paczero.cells import CellsError, load_cells, training_recipe
from paczero.recipe import BOOL_FIELDS, DEFAULTS, FIELD_HELP, REQUIRED, RecipeError, resolve_recipe
from paczero.recipe_fields import FIELD_NAMES, RECIPE_FIELDS
from tests.conftest import tiny_recipe
from workflow_helpers import REPO


def test_defaults_filled():
    recipe = resolve_recipe(tiny_recipe())
    assert recipe["zo_eps"] == 1e-3
    assert recipe["train_seed"] == 42
    assert recipe["lora_targets"] == ["q_proj", "v_proj"]


def test_unknown_field_suggests_name():
    with pytest.raises(RecipeError, match=r"field 'budget_nat'.*did you mean 'budget_nats'"):
        resolve_recipe(tiny_recipe(budget_nat=0.3))


def test_yaml_string_float_rejected():
    with pytest.raises(RecipeError, match=r"cell 'test_cell', field 'lr': expected a number, got '1e-5'"):
        resolve_recipe(tiny_recipe(lr="1e-5"))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"num_subsets": 7}, "num_subsets"),
        ({"num_subsets": 0}, "num_subsets"),
        ({"clip": 0.0}, "clip"),
        ({"method": "pacmi", "budget_nats": 0.0}, "budget_nats"),
        ({"method": "pacmi", "budget_nats": -1.0}, "budget_nats"),
        ({"data_seed": 1.5}, "data_seed"),
        ({"track": "full"}, "track"),
        ({"method": "dpzero"}, "epsilon"),
        ({"task": ""}, "task"),
        ({"secret_index": 8}, "secret_index"),
        ({"ablation": "quant_half", "method": "paczpl"}, "ablation"),
    ],
)
def test_invalid_values_name_field(overrides, field):
    with pytest.raises(RecipeError, match=f"field '{field}'"):
        resolve_recipe(tiny_recipe(**overrides))


def test_integral_float_accepted_for_int():
    assert resolve_recipe(tiny_recipe(steps=10.0))["steps"] == 10


def test_fractional_float_rejected_for_int():
    with pytest.raises(RecipeError, match=r"cell 'test_cell', field 'steps': expected an integer, got 10.5"):
        resolve_recipe(tiny_recipe(steps=10.5))


def test_every_problem_reported():
    with pytest.raises(RecipeError) as info:
        resolve_recipe(tiny_recipe(clip=0.0, num_subsets=7))
    lines = str(info.value).splitlines()
    assert "cell 'test_cell', field 'num_subsets': must be even and >= 2" in lines[0]
    assert lines[1] == "cell 'test_cell', field 'clip': must be > 0, got 0.0"


def test_tables_derived_from_recipe_fields():
    names = [field.name for field in RECIPE_FIELDS]
    assert list(FIELD_HELP) == names
    assert all(FIELD_HELP[name] for name in names)
    assert set(REQUIRED) | set(DEFAULTS) == set(names)
    assert not set(REQUIRED) & set(DEFAULTS)
    assert DEFAULTS["dp_noise"] is True
    assert BOOL_FIELDS == ("dp_noise",)
    assert "dp_noise" in FIELD_NAMES


def test_paper_cells_resolve_unchanged():
    cells = load_cells(REPO / "config" / "config.yaml", preset="paper", cells_file=REPO / "config" / "cells.yaml")
    for cell, recipe in cells.items():
        assert resolve_recipe(recipe) == recipe, cell
        assert resolve_recipe(training_recipe(recipe)) == {**recipe, "table": []}, cell


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("lr", "1e-5", "expected a number, got '1e-5'"),
        ("steps", 2.5, "expected an integer, got 2.5"),
        ("dp_noise", "false", "expected true or false, got 'false'"),
        ("num_subsets", 7, "must be even and >= 2"),
        ("clip", -1.0, "must be > 0"),
        ("budget_nats", 0.3, "applies to method pacmi only"),
        ("lora_targets", [], "is empty; give it at least one value"),
        ("lora_targets", "q_proj", "expected a list"),
    ],
)
def test_cells_and_trainer_reject_alike(tmp_path, field, value, problem):
    with pytest.raises(RecipeError) as trainer_error:
        resolve_recipe(tiny_recipe(**{field: value}))
    assert f"field '{field}': {problem}" in str(trainer_error.value)

    recipe = {"task": "sst2", "model": "opt-1.3b", "track": "lora", "method": "paczpl",
              "lr": 1e-3, "clip": 25.0, "steps": 10, field: value}
    path = tmp_path / "cells.yaml"
    # JSON is YAML in which every string is quoted, as a hand-written "1e-5" would be.
    path.write_text(json.dumps({"groups": [{"name": "g", "tables": ["table1"], "recipe": recipe, "seeds": [0]}]}))
    with pytest.raises(CellsError) as cells_error:
        load_cells({"models": {"opt-1.3b": "facebook/opt-1.3b"}}, cells_file=path)
    assert f"field '{field}'" in str(cells_error.value) or f"field 'recipe.{field}'" in str(cells_error.value)
    assert problem in str(cells_error.value)
