"""Expansion of config/cells.yaml and config/config.yaml into cell recipes."""

from __future__ import annotations

import re
from collections import Counter

import jsonschema
import pytest
import yaml

from workflow_helpers import REPO
from paczero.cells import (
    CONFIG_DEFAULTS,
    CellsError,
    cells_by_table,
    format_number,
    load_cells,
    load_config,
    load_yaml,
    resolve_cell,
    training_recipe,
)
from paczero.recipe_fields import FIELD_NAMES, FIELDS_BY_NAME, check_value_type

CONFIG_FILE = REPO / "config" / "config.yaml"
CELLS_FILE = REPO / "config" / "cells.yaml"

# Cells per table under the paper preset: the runs behind each PACZero table, counted by hand.
EXPECTED_TABLE_COUNTS = {
    "table1": 55,
    "table2": 15,
    "table3": 12,
    "appendix/ft-plateau-adaptive": 15,
    "appendix/dpaggzo-parity": 6,
    "appendix/ablation": 8,
    "appendix/clip-ablation-67b": 4,
    "appendix/rank-ablation": 3,
    "appendix/zpl-lr-sweep": 10,
    "appendix/zpl-ft-ladder": 5,
    "appendix/zpl-67b-ladder": 3,
    "appendix/zpl-67b-ft-ladder": 3,
    "appendix/zpl-67b-ft-multiseed": 3,
    "appendix/k-ablation": 4,
    "appendix/k-ablation-67b": 4,
    "appendix/squad-nonpriv": 2,
}
# 149 table entries; 12 of them reuse a run of another table (2 + 2 + 6 + 1 + 1).
EXPECTED_DISTINCT_CELLS = 137

# Table 1: (task, model, track, method, budget) -> seeds.
EXPECTED_TABLE1_SEEDS = {
    ("sst2", "opt-1.3b", "lora", "pacmi", 0.33): [0, 1, 2, 3],
    ("sst2", "opt-1.3b", "lora", "pacmi", 0.68): [0, 1, 2, 3],
    ("sst2", "opt-1.3b", "lora", "paczpl", 0.0): [1, 2, 3],
    ("sst2", "opt-1.3b", "ft", "pacmi", 0.33): [0, 1, 2, 3],
    ("sst2", "opt-1.3b", "ft", "pacmi", 0.68): [0, 1, 2, 3],
    ("sst2", "opt-1.3b", "ft", "paczpl", 0.0): [0, 1, 2],
    ("sst2", "opt-6.7b", "lora", "pacmi", 0.33): [0, 1, 2],
    ("sst2", "opt-6.7b", "lora", "pacmi", 0.68): [0, 1, 2],
    ("sst2", "opt-6.7b", "lora", "paczpl", 0.0): [0, 1, 2],
    ("sst2", "opt-6.7b", "ft", "pacmi", 0.33): [0, 1, 2, 42],
    ("sst2", "opt-6.7b", "ft", "pacmi", 0.68): [0, 1, 2],
    ("sst2", "opt-6.7b", "ft", "paczpl", 0.0): [0, 1, 2],
    ("squad", "opt-1.3b", "lora", "pacmi", 0.33): [0],
    ("squad", "opt-1.3b", "lora", "pacmi", 0.68): [0],
    ("squad", "opt-1.3b", "lora", "paczpl", 0.0): [0],
    ("squad", "opt-1.3b", "ft", "pacmi", 0.33): [0],
    ("squad", "opt-1.3b", "ft", "pacmi", 0.68): [0],
    ("squad", "opt-1.3b", "ft", "paczpl", 0.0): [0, 1, 2],
    ("squad", "opt-6.7b", "lora", "pacmi", 0.33): [0],
    ("squad", "opt-6.7b", "lora", "pacmi", 0.68): [0],
    ("squad", "opt-6.7b", "lora", "paczpl", 0.0): [0],
    ("squad", "opt-6.7b", "ft", "pacmi", 0.33): [0],
    ("squad", "opt-6.7b", "ft", "pacmi", 0.68): [0],
    ("squad", "opt-6.7b", "ft", "paczpl", 0.0): [0],
}

# Table 1 recipes: (task, model, track, method) -> (lr, clip, steps, num_subsets).
EXPECTED_TABLE1_RECIPES = {
    ("sst2", "opt-1.3b", "lora", "pacmi"): (5e-4, 25.0, 2000, 128),
    ("sst2", "opt-1.3b", "lora", "paczpl"): (1e-3, 25.0, 1000, 126),
    ("sst2", "opt-1.3b", "ft", "pacmi"): (1e-4, 1000.0, 1000, 128),
    ("sst2", "opt-1.3b", "ft", "paczpl"): (1e-4, 1000.0, 1000, 126),
    ("sst2", "opt-6.7b", "lora", "pacmi"): (1e-3, 10.0, 2000, 128),
    ("sst2", "opt-6.7b", "lora", "paczpl"): (1e-3, 10.0, 1000, 126),
    ("sst2", "opt-6.7b", "ft", "pacmi"): (1e-4, 1000.0, 1000, 128),
    ("sst2", "opt-6.7b", "ft", "paczpl"): (1e-4, 1000.0, 1000, 126),
    ("squad", "opt-1.3b", "lora", "pacmi"): (1e-3, 25.0, 1000, 128),
    ("squad", "opt-1.3b", "lora", "paczpl"): (1e-3, 25.0, 1000, 126),
    ("squad", "opt-1.3b", "ft", "pacmi"): (1e-4, 1000.0, 1000, 128),
    ("squad", "opt-1.3b", "ft", "paczpl"): (1e-4, 1000.0, 1000, 126),
    ("squad", "opt-6.7b", "lora", "pacmi"): (1e-3, 10.0, 1000, 128),
    ("squad", "opt-6.7b", "lora", "paczpl"): (1e-3, 10.0, 1000, 126),
    ("squad", "opt-6.7b", "ft", "pacmi"): (1e-4, 1000.0, 1000, 128),
    ("squad", "opt-6.7b", "ft", "paczpl"): (1e-4, 1000.0, 1000, 126),
}


@pytest.fixture(scope="module")
def paper_cells():
    return load_cells(CONFIG_FILE, preset="paper", cells_file=CELLS_FILE)


# ------------------------------------------------------------------ paper cells


def test_paper_table_counts(paper_cells):
    counts = {table: len(ids) for table, ids in cells_by_table(paper_cells).items()}
    assert counts == EXPECTED_TABLE_COUNTS


def test_paper_distinct_cell_count(paper_cells):
    assert len(paper_cells) == EXPECTED_DISTINCT_CELLS


def test_table1_sst2_has_41_cells(paper_cells):
    table1 = cells_by_table(paper_cells)["table1"]
    tasks = Counter(paper_cells[cell]["task"] for cell in table1)
    assert tasks["sst2"] == 41
    assert tasks["squad"] == 14


def test_table1_seeds_per_row(paper_cells):
    seeds: dict[tuple, list[int]] = {}
    for cell in cells_by_table(paper_cells)["table1"]:
        recipe = paper_cells[cell]
        key = tuple(recipe[f] for f in ("task", "model", "track", "method", "budget_nats"))
        seeds.setdefault(key, []).append(recipe["data_seed"])
    assert seeds == EXPECTED_TABLE1_SEEDS


def test_table1_recipes(paper_cells):
    for cell in cells_by_table(paper_cells)["table1"]:
        recipe = paper_cells[cell]
        key = tuple(recipe[f] for f in ("task", "model", "track", "method"))
        observed = (recipe["lr"], recipe["clip"], recipe["steps"], recipe["num_subsets"])
        assert observed == EXPECTED_TABLE1_RECIPES[key], cell


def test_shared_settings_of_every_cell(paper_cells):
    for cell, recipe in paper_cells.items():
        assert (recipe["num_train"], recipe["num_dev"], recipe["num_eval"]) == (1000, 500, 1000), cell
        assert recipe["zo_eps"] == 1e-3, cell
        assert recipe["dtype"] == "float16", cell
        assert recipe["lr_end"] == 1e-7, cell
        assert recipe["weight_decay"] == 0.0, cell
        assert recipe["train_seed"] == 42, cell
        assert recipe["lora_r"] in (4, 8, 16), cell
        assert recipe["lora_alpha"] == 16, cell
        assert recipe["lora_targets"] == ["q_proj", "v_proj"], cell
        assert recipe["budget_schedule"] == "adaptive", cell


def test_eval_interval_per_group(paper_cells):
    tables = cells_by_table(paper_cells)
    slow = set(tables["table3"]) | set(tables["appendix/k-ablation"]) | set(tables["appendix/k-ablation-67b"])
    for cell, recipe in paper_cells.items():
        assert recipe["eval_every"] == (200 if cell in slow else 100), cell


def test_dp_cells(paper_cells):
    rows = sorted(
        (r["method"], r["directions"], r["steps"], r["epsilon"])
        for r in paper_cells.values()
        if r["method"] in ("dpzero", "dpaggzo")
    )
    expected = sorted(
        [("dpzero", 1, 20000, eps) for eps in (0.2, 0.3, 0.5, 1.0, 2.0)]
        + [("dpaggzo", 64, 1000, eps) for eps in (0.2, 0.3, 0.5, 1.0, 2.0, 6.0)]
        + [("dpaggzo", 64, 2000, 0.2)]
    )
    assert rows == expected
    for recipe in paper_cells.values():
        if recipe["method"] in ("dpzero", "dpaggzo"):
            assert (recipe["lr"], recipe["clip"], recipe["lr_schedule"]) == (5e-6, 25.0, "constant")
            assert (recipe["sample_rate"], recipe["delta"]) == (0.064, 1e-5)


def test_parity_cells_are_table3_cells(paper_cells):
    tables = cells_by_table(paper_cells)
    parity = tables["appendix/dpaggzo-parity"]
    assert all(paper_cells[cell]["table"] == ["table3", "appendix/dpaggzo-parity"] for cell in parity)
    assert {paper_cells[c]["epsilon"] for c in parity} == {0.2, 0.3, 0.5, 1.0, 2.0, 6.0}
    assert "sst2_opt-1.3b_ft_dpaggzo_k64_t1000_eps0.2_s0" in parity


def test_plateau_reuses_headline_runs(paper_cells):
    assert paper_cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"]["table"] == ["table1", "table2"]
    assert paper_cells["sst2_opt-1.3b_ft_pacmi_mi0.68_s0"]["table"] == ["table1", "appendix/ft-plateau-adaptive"]
    assert paper_cells["sst2_opt-1.3b_lora_pacmi_mi1e-4_s0"]["table"] == ["table2"]


def test_ablation_cells(paper_cells):
    rows = sorted(
        (paper_cells[c]["ablation"], paper_cells[c]["steps"])
        for c in cells_by_table(paper_cells)["appendix/ablation"]
    )
    assert rows == sorted([
        ("raw_full", 2000), ("quant_full", 1000), ("quant_full", 2000), ("raw_half", 1000),
        ("raw_half", 2000), ("quant_half", 1000), ("quant_half", 2000), ("random_sign", 2000),
    ])


def test_k_ablation_steps(paper_cells):
    rows = sorted(
        (paper_cells[c]["model"], paper_cells[c]["track"], paper_cells[c]["directions"], paper_cells[c]["steps"])
        for table in ("appendix/k-ablation", "appendix/k-ablation-67b")
        for c in cells_by_table(paper_cells)[table]
    )
    assert rows == sorted(
        [("opt-1.3b", "lora", k, 2000) for k in (4, 16)]
        + [("opt-1.3b", "ft", k, 1000) for k in (4, 16)]
        + [("opt-6.7b", "lora", k, 1000) for k in (4, 16)]
        + [("opt-6.7b", "ft", k, 1000) for k in (4, 16)]
    )


def test_ids_are_readable_and_match_recipes(paper_cells):
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s0" in paper_cells
    assert "sst2_opt-1.3b_ft_paczpl_s0" in paper_cells
    assert "sst2_opt-6.7b_lora_pacmi_mi0.33_c25_t1000_r16_s0" in paper_cells
    assert "sst2_opt-1.3b_ft_paczpl_lr1e-4_c1e9_t5000_m128_s0" in paper_cells
    for cell, recipe in paper_cells.items():
        assert recipe["cell"] == cell
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", cell), cell
        assert list(recipe) == list(FIELD_NAMES), cell


def test_ids_unique_ignoring_case(paper_cells):
    lowered = Counter(cell.lower() for cell in paper_cells)
    assert max(lowered.values()) == 1


def test_recipes_distinct_across_ids(paper_cells):
    recipes = Counter(
        repr(sorted((k, v) for k, v in r.items() if k not in ("cell", "table"))) for r in paper_cells.values()
    )
    assert max(recipes.values()) == 1


def test_paper_recipe_records_sources(paper_cells):
    recipe = paper_cells["sst2_opt-6.7b_ft_paczpl_s0"]
    assert recipe["preset"] == "paper"
    assert recipe["data"] == "hub"
    assert recipe["model_source"] == "facebook/opt-6.7b"


def test_training_recipe_drops_tables(paper_cells):
    recipe = training_recipe(paper_cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"])
    assert "table" not in recipe
    assert recipe["cell"] == "sst2_opt-1.3b_lora_pacmi_mi0.33_s0"


def test_resolve_cell_returns_training_recipe(paper_cells):
    cell = "sst2_opt-6.7b_lora_pacmi_mi0.33_c25_t1000_r8_s0"
    recipe = resolve_cell(cell, cells_file=CELLS_FILE, config_file=CONFIG_FILE, preset="paper")
    assert recipe == training_recipe(paper_cells[cell])
    assert "table" not in recipe


def test_resolve_cell_unknown_id():
    with pytest.raises(CellsError) as info:
        resolve_cell("sst2_opt-1.3b_lora_pacmi_mi0.33_s9", cells_file=CELLS_FILE, config_file=CONFIG_FILE)
    message = str(info.value)
    assert str(CELLS_FILE) in message
    assert "cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s9' not found" in message
    assert "did you mean 'sst2_opt-1.3b_lora_pacmi_mi0.33_s" in message
    assert "paczero cells --preset paper" in message


def test_resolve_cell_dropped_by_max_seeds():
    with pytest.raises(CellsError, match="under preset 'demo', which keeps 2 seeds per group"):
        resolve_cell("sst2_opt-1.3b_lora_pacmi_mi0.33_s3", cells_file=CELLS_FILE, config_file=CONFIG_FILE,
                     preset="demo")


# -------------------------------------------------------------------- presets


def test_task_recipe_applies_to_one_task(tmp_path):
    config = yaml.safe_load(CONFIG_FILE.read_text())
    config["presets"]["demo"]["task_recipe"] = {"squad": {"steps": 3}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cells = load_cells(path, preset="demo", cells_file=CELLS_FILE)
    steps = {recipe["task"]: recipe["steps"] for recipe in cells.values()}
    assert steps == {"sst2": 40, "squad": 3}


def test_task_recipe_unknown_task_rejected(tmp_path):
    config = yaml.safe_load(CONFIG_FILE.read_text())
    config["presets"]["demo"]["task_recipe"] = {"mnli": {"steps": 3}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(CellsError, match="unknown task 'mnli'"):
        load_cells(path, preset="demo", cells_file=CELLS_FILE)


def test_smoke_preset_overrides_every_cell():
    cells = load_cells(CONFIG_FILE, preset="smoke", cells_file=CELLS_FILE)
    assert len(cells) == EXPECTED_DISTINCT_CELLS
    for cell, recipe in cells.items():
        observed = tuple(recipe[f] for f in ("steps", "num_train", "num_dev", "num_eval", "eval_every"))
        assert observed == (2, 128, 10, 20, 1), cell
        assert recipe["preset"] == "smoke"


def test_demo_preset(paper_cells):
    cells = load_cells(CONFIG_FILE, preset="demo", cells_file=CELLS_FILE)
    for cell, recipe in cells.items():
        expected_source = {"opt-1.3b": "tiny:opt-small", "opt-6.7b": "tiny:opt-medium"}[recipe["model"]]
        assert recipe["model_source"] == expected_source, cell
        assert recipe["dtype"] == "float32", cell
        observed = tuple(recipe[f] for f in ("steps", "num_train", "num_dev", "num_eval", "eval_every", "micro_batch"))
        # SQuAD cells get shorter overrides through the preset's task_recipe.
        expected = (8, 16, 8, 32, 4, 16) if recipe["task"] == "squad" else (40, 64, 32, 128, 10, 64)
        assert observed == expected, cell
        assert recipe["num_subsets"] == paper_cells[cell]["num_subsets"], cell
        assert recipe["data"] == "demo", cell


def test_demo_keeps_first_two_seeds():
    cells = load_cells(CONFIG_FILE, preset="demo", cells_file=CELLS_FILE)
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s1" in cells
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s2" not in cells
    assert "sst2_opt-1.3b_lora_paczpl_s2" in cells  # seeds 1, 2, 3: the first two are 1 and 2
    assert "sst2_opt-1.3b_lora_paczpl_s3" not in cells
    assert "sst2_opt-6.7b_ft_pacmi_mi0.33_s42" not in cells
    table1 = cells_by_table(cells)["table1"]
    assert Counter(cells[c]["task"] for c in table1) == {"sst2": 24, "squad": 13}


def test_config_data_wins_over_preset():
    config = load_config(CONFIG_FILE)
    config["data"] = {"sst2": "/data/sst2-local"}
    cells = load_cells(config, preset="demo", cells_file=CELLS_FILE)
    sources = {(r["task"], r["data"]) for r in cells.values()}
    assert sources == {("sst2", "/data/sst2-local"), ("squad", "demo")}


def test_preset_data_used_when_not_configured():
    config = load_config(CONFIG_FILE)
    config["data"] = {"squad": "/data/squad-local"}
    cells = load_cells(config, preset="demo", cells_file=CELLS_FILE)
    sources = {(r["task"], r["data"]) for r in cells.values()}
    assert sources == {("sst2", "demo"), ("squad", "/data/squad-local")}


def test_max_seeds_option_overrides_preset():
    config = load_config(CONFIG_FILE)
    config["max_seeds"] = 1
    cells = load_cells(config, preset="paper", cells_file=CELLS_FILE)
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s0" in cells
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s1" not in cells
    assert "sst2_opt-1.3b_lora_paczpl_s1" in cells


def test_preset_from_config_key():
    config = load_config(CONFIG_FILE)
    config["preset"] = "smoke"
    cells = load_cells(config, cells_file=CELLS_FILE)
    assert {r["preset"] for r in cells.values()} == {"smoke"}


def test_preset_numeric_strings_are_coerced():
    # Snakemake's --config delivers nested values as strings.
    config = load_config(CONFIG_FILE)
    config["presets"]["quick"] = {"recipe": {"steps": "3", "zo_eps": "1e-4"}}
    cells = load_cells(config, preset="quick", cells_file=CELLS_FILE)
    recipe = cells["sst2_opt-1.3b_ft_paczpl_s0"]
    assert recipe["steps"] == 3
    assert recipe["zo_eps"] == 1e-4


@pytest.mark.parametrize(
    ("preset_spec", "expected"),
    [
        ({"recipe": {"stepz": 3}}, ["preset 'bad'", "recipe.stepz", "did you mean 'steps'"]),
        ({"recipe": {"steps": "many"}}, ["preset 'bad'", "recipe.steps", "expected an integer"]),
        ({"recipe": {"steps": "2.5"}}, ["preset 'bad'", "recipe.steps", "expected an integer, got 2.5"]),
        ({"recipe": {"dp_noise": "maybe"}}, ["preset 'bad'", "recipe.dp_noise", "expected true or false"]),
        ({"recipe": {"method": "paczpl"}}, ["preset 'bad'", "recipe.method", "defines the cell"]),
        ({"recipe": {"data": "demo"}}, ["preset 'bad'", "recipe.data", "set by `data`"]),
        ({"recipe": {"num_subsets": 7}}, ["preset 'bad'", "num_subsets", "even"]),
        ({"recipe": {"clip": 0}}, ["preset 'bad'", "'clip'", "> 0"]),
        ({"max_seed": 1}, ["preset 'bad'", "unknown key 'max_seed'", "did you mean 'max_seeds'"]),
        ({"data": {"sst3": "x"}}, ["unknown task 'sst3'", "did you mean 'sst2'"]),
        ({"max_seeds": 0}, ["preset 'bad'", "key 'max_seeds'", ">= 1"]),
        ({"models": {"opt-1.3b": ""}}, ["preset 'bad'", "key 'models'", "entry 'opt-1.3b'"]),
    ],
)
def test_invalid_preset(preset_spec, expected):
    config = load_config(CONFIG_FILE)
    config["presets"]["bad"] = preset_spec
    with pytest.raises(CellsError) as info:
        load_cells(config, preset="bad", cells_file=CELLS_FILE)
    for text in expected:
        assert text in str(info.value)


def test_unknown_preset():
    with pytest.raises(CellsError, match=r"unknown preset 'dmeo' \(did you mean 'demo'\?\)"):
        load_cells(CONFIG_FILE, preset="dmeo", cells_file=CELLS_FILE)


def test_unknown_config_key():
    config = load_config(CONFIG_FILE)
    config["result"] = "out"
    with pytest.raises(CellsError, match=r"unknown key 'result' \(did you mean 'results'\?\)"):
        load_cells(config, cells_file=CELLS_FILE)


def test_config_schema_matches_defaults():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = {key: spec["default"] for key, spec in schema["properties"].items()}
    assert defaults == CONFIG_DEFAULTS


def test_config_file_passes_schema():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(CONFIG_FILE.read_text()))


# ------------------------------------------------------------------ bad input

BASE = """\
groups:
  - name: headline
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi, lr: 5e-4, clip: 25, steps: 10}
    grid: {budget_nats: [0.33, 0.68]}
    seeds: [0, 1]
"""
SECOND = """\
  - name: other
    tables: [table2]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi, lr: 5e-4, clip: 25, steps: 10}
    grid: {budget_nats: [0.33]}
    seeds: [0]
"""
MINIMAL_CONFIG = {"models": {"opt-1.3b": "facebook/opt-1.3b"}}


def expand_text(tmp_path, text, config=None):
    path = tmp_path / "cells.yaml"
    path.write_text(text)
    return load_cells(config or MINIMAL_CONFIG, cells_file=path), path


def test_base_document_is_valid(tmp_path):
    cells, _ = expand_text(tmp_path, BASE)
    assert list(cells) == [
        "sst2_opt-1.3b_lora_pacmi_mi0.33_s0",
        "sst2_opt-1.3b_lora_pacmi_mi0.33_s1",
        "sst2_opt-1.3b_lora_pacmi_mi0.68_s0",
        "sst2_opt-1.3b_lora_pacmi_mi0.68_s1",
    ]
    assert cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"]["lr"] == 5e-4


BAD_CASES = {
    "unknown recipe key": (
        ("lr: 5e-4", "lrr: 5e-4"),
        ["group 'headline'", "field 'recipe'", "unknown key 'lrr'", "did you mean 'lr'"],
    ),
    "unknown group key": (
        ("seeds: [0, 1]", "seed: [0, 1]"),
        ["group 'headline'", "unknown key 'seed'", "did you mean 'seeds'"],
    ),
    "quoted float": (
        ("lr: 5e-4", 'lr: "5e-4"'),
        ["group 'headline'", "field 'recipe.lr'", "'5e-4'", "remove the quotes"],
    ),
    "string integer": (
        ("steps: 10", 'steps: "10"'),
        ["group 'headline'", "field 'recipe.steps'", "integer"],
    ),
    "float for integer": (
        ("steps: 10", "steps: 10.5"),
        ["group 'headline'", "field 'recipe.steps'", "integer"],
    ),
    "fractional float for integer": (
        ("steps: 10", "steps: 1e-1"),
        ["group 'headline'", "field 'recipe.steps'", "expected an integer, got 0.1"],
    ),
    "empty field": (
        ("lr: 5e-4", "lr: "),
        ["group 'headline'", "field 'recipe.lr'", "is empty"],
    ),
    "empty seeds": (
        ("seeds: [0, 1]", "seeds: []"),
        ["group 'headline'", "field 'seeds'", "is empty"],
    ),
    "empty tables": (
        ("tables: [table1]", "tables: []"),
        ["group 'headline'", "field 'tables'", "is empty"],
    ),
    "unknown task": (
        ("task: sst2", "task: sst3"),
        ["group 'headline'", "field 'recipe.task'", "unknown task 'sst3'", "did you mean 'sst2'"],
    ),
    "unknown track": (
        ("track: lora", "track: lroa"),
        ["group 'headline'", "field 'recipe.track'", "unknown track 'lroa'", "did you mean 'lora'"],
    ),
    "unknown method": (
        ("method: pacmi", "method: pac-mi"),
        ["group 'headline'", "field 'recipe.method'", "unknown method 'pac-mi'", "did you mean 'pacmi'"],
    ),
    "unknown model": (
        ("model: opt-1.3b", "model: opt-13b"),
        ["group 'headline'", "cell 'sst2_opt-13b_lora_pacmi_mi0.33_s0'", "field 'model'",
         "unknown model 'opt-13b'", "did you mean 'opt-1.3b'"],
    ),
    "odd num_subsets": (
        ("steps: 10}", "steps: 10, num_subsets: 127}"),
        ["group 'headline'", "cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s0'", "field 'num_subsets'", "even"],
    ),
    "num_subsets below two": (
        ("steps: 10}", "steps: 10, num_subsets: 0}"),
        ["group 'headline'", "field 'num_subsets'", ">= 2"],
    ),
    "zero budget for pacmi": (
        ("[0.33, 0.68]", "[0.0, 0.68]"),
        ["group 'headline'", "cell 'sst2_opt-1.3b_lora_pacmi_mi0_s0'", "field 'budget_nats'", "> 0"],
    ),
    "negative budget for pacmi": (
        ("[0.33, 0.68]", "[-0.33, 0.68]"),
        ["group 'headline'", "field 'budget_nats'", "> 0"],
    ),
    "zero clip": (
        ("clip: 25", "clip: 0"),
        ["group 'headline'", "field 'clip'", "> 0"],
    ),
    "negative clip": (
        ("clip: 25", "clip: -1"),
        ["group 'headline'", "field 'clip'", "> 0"],
    ),
    "fractional seed": (
        ("seeds: [0, 1]", "seeds: [0, 1.5]"),
        ["group 'headline'", "field 'seeds[1]'", "integer"],
    ),
    "string seed": (
        ("seeds: [0, 1]", "seeds: [0, '1']"),
        ["group 'headline'", "field 'seeds[1]'", "integer"],
    ),
    "negative seed": (
        ("seeds: [0, 1]", "seeds: [0, -1]"),
        ["group 'headline'", "field 'seeds[1]'", ">= 0"],
    ),
    "duplicate seed": (
        ("seeds: [0, 1]", "seeds: [0, 0]"),
        ["group 'headline'", "field 'seeds'", "twice"],
    ),
    "missing required field": (
        ("lr: 5e-4, ", ""),
        ["group 'headline'", "field 'lr'", "missing required field"],
    ),
    "seed set in recipe": (
        ("steps: 10}", "steps: 10, data_seed: 3}"),
        ["group 'headline'", "field 'recipe'", "'data_seed' cannot be set here", "`seeds`"],
    ),
    "budget for paczpl": (
        ("method: pacmi", "method: paczpl"),
        ["group 'headline'", "field 'budget_nats'", "pacmi only"],
    ),
    "ablation for pacmi": (
        ("steps: 10}", "steps: 10, ablation: quant_half}"),
        ["group 'headline'", "field 'ablation'", "nonprivate only"],
    ),
    "varying field missing from id": (
        ("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "{task}_{model}_s{data_seed}"'),
        ["group 'headline'", "field 'id'", "'budget_nats' varies", "{budget_nats}"],
    ),
    "id without seed": (
        ("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "{task}_mi{budget_nats}"'),
        ["group 'headline'", "field 'id'", "{data_seed}"],
    ),
    "unknown id field": (
        ("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "{task}_{budget}_mi{budget_nats}_s{data_seed}"'),
        ["group 'headline'", "field 'id'", "unknown field {budget}", "did you mean 'budget_nats'"],
    ),
    "bad table name": (
        ("tables: [table1]", "tables: [Table 1]"),
        ["group 'headline'", "field 'tables[0]'", "invalid value 'Table 1'"],
    ),
    "field in recipe and grid": (
        ("steps: 10}", "steps: 10, budget_nats: 0.1}"),
        ["group 'headline'", "field 'budget_nats'", "both 'recipe' and 'grid'"],
    ),
    "duplicate yaml key": (
        ("    seeds: [0, 1]\n", "    seeds: [0, 1]\n    seeds: [2]\n"),
        ["duplicate key 'seeds'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_invalid_cells_file(tmp_path, case):
    (old, new), expected = BAD_CASES[case]
    assert old in BASE
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, BASE.replace(old, new, 1))
    message = str(info.value)
    assert str(tmp_path / "cells.yaml") in message
    for text in expected:
        assert text in message


def test_integral_floats_become_integers(tmp_path):
    text = BASE.replace("steps: 10", "steps: 1e1").replace("seeds: [0, 1]", "seeds: [0, 1.0]")
    cells, _ = expand_text(tmp_path, text)
    recipe = cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s1"]
    assert recipe["steps"] == 10
    assert type(recipe["steps"]) is int
    assert type(recipe["data_seed"]) is int


def test_dp_noise_field(tmp_path):
    text = BASE.replace("method: pacmi", "method: dpaggzo").replace(
        "grid: {budget_nats: [0.33, 0.68]}", "grid: {dp_noise: [true, false]}"
    ).replace("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "{task}_dp_noise{dp_noise}_s{data_seed}"').replace(
        "steps: 10}", "steps: 10, epsilon: 2.0}"
    )
    cells, _ = expand_text(tmp_path, text)
    assert cells["sst2_dp_noisetrue_s0"]["dp_noise"] is True
    assert cells["sst2_dp_noisefalse_s0"]["dp_noise"] is False


def test_dp_noise_must_be_boolean(tmp_path):
    text = BASE.replace("steps: 10}", "steps: 10, dp_noise: 'no'}")
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, text)
    assert "field 'recipe.dp_noise': expected true or false, got 'no'" in str(info.value)


def test_preset_boolean_strings():
    spec = FIELDS_BY_NAME["dp_noise"]
    assert check_value_type(spec, "false", coerce_strings=True) is False
    assert check_value_type(spec, "True", coerce_strings=True) is True
    config = load_config(CONFIG_FILE)
    config["presets"]["quick"] = {"recipe": {"dp_noise": "false"}}
    with pytest.raises(CellsError, match=r"cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s0' under preset 'quick': "
                                         r"field 'dp_noise': applies to methods dpzero, dpaggzo only"):
        load_cells(config, preset="quick", cells_file=CELLS_FILE)


def test_dp_method_requires_epsilon(tmp_path):
    text = BASE.replace("method: pacmi", "method: dpzero").replace(
        "grid: {budget_nats: [0.33, 0.68]}", "grid: {lr_end: [0.0]}"
    ).replace("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "{task}_dp_e{lr_end}_s{data_seed}"')
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, text)
    assert "field 'epsilon'" in str(info.value)
    assert "dpzero" in str(info.value)


def test_same_id_equal_recipe_merges_tables(tmp_path):
    cells, _ = expand_text(tmp_path, BASE + SECOND)
    assert len(cells) == 4
    assert cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"]["table"] == ["table1", "table2"]
    assert cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s1"]["table"] == ["table1"]


def test_same_id_different_recipe_rejected(tmp_path):
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, BASE + SECOND.replace("steps: 10", "steps: 20"))
    message = str(info.value)
    assert "group 'other'" in message
    assert "cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s0'" in message
    assert "field 'steps'" in message
    assert "duplicate id" in message
    assert "group 'headline'" in message


def test_same_recipe_two_ids_rejected(tmp_path):
    second = SECOND.replace("seeds: [0]", 'seeds: [0]\n    id: "copy_mi{budget_nats}_s{data_seed}"')
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, BASE + second)
    message = str(info.value)
    assert "cell 'copy_mi0.33_s0'" in message
    assert "same recipe as cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s0'" in message


def test_duplicate_group_name_rejected(tmp_path):
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, BASE + SECOND.replace("name: other", "name: headline"))
    assert "field 'name': duplicate group name" in str(info.value)


def test_group_produces_id_twice(tmp_path):
    text = BASE.replace("grid: {budget_nats: [0.33, 0.68]}", "cases: [{budget_nats: 0.33}, {budget_nats: 0.33}]")
    with pytest.raises(CellsError) as info:
        expand_text(tmp_path, text)
    assert "group 'headline', cell 'sst2_opt-1.3b_lora_pacmi_mi0.33_s0'" in str(info.value)
    assert "produces this id twice" in str(info.value)


def test_cases_expand_to_distinct_ids(tmp_path):
    text = BASE.replace(
        "grid: {budget_nats: [0.33, 0.68]}",
        "cases: [{budget_nats: 0.33, lr_end: 0.0}, {budget_nats: 0.33, lr_end: 1e-8}]",
    ).replace("seeds: [0, 1]", 'seeds: [0, 1]\n    id: "x_mi{budget_nats}_{lr_end}_s{data_seed}"')
    cells, _ = expand_text(tmp_path, text)
    assert "x_mi0.33_0_s0" in cells
    assert "x_mi0.33_1e-8_s0" in cells


def test_unquoted_scientific_floats_are_numbers(tmp_path):
    path = tmp_path / "numbers.yaml"
    path.write_text("a: 1e-5\nb: 5E-4\nc: 1e9\nd: '1e-5'\ne: 10\n")
    assert load_yaml(path) == {"a": 1e-5, "b": 5e-4, "c": 1e9, "d": "1e-5", "e": 10}


def test_missing_cells_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.yaml"):
        load_cells(MINIMAL_CONFIG, cells_file=tmp_path / "nothing.yaml")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.33, "0.33"), (25.0, "25"), (25, "25"), (5e-4, "5e-4"), (1e-4, "1e-4"), (1e9, "1e9"),
     (0.01, "0.01"), (2.5e-5, "2.5e-5"), (6.0, "6"), (0.2, "0.2"), (1e-7, "1e-7")],
)
def test_format_number(value, text):
    assert format_number(value) == text
