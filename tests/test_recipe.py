import pytest

from paczero.recipe import RecipeError, resolve_recipe
from tests.conftest import tiny_recipe


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
