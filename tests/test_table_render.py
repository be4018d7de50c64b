"""Rendered tables from hand-written metrics.json files: formatting, bounds, published values, drafts."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from paczero.cells import load_cells, training_recipe
from paczero.tables import (
    PaperValues,
    aggregate_table,
    build_document,
    build_partial_document,
    escape_latex,
    load_layouts,
    mia_bound,
    parse_paper_values,
    render_latex,
    render_markdown,
    write_csv,
    write_table_files,
)

CELLS = """\
groups:
  - name: t1-mi
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: pacmi,
             lr: 1e-4, clip: 1000, steps: 1000, num_subsets: 8}
    grid: {budget_nats: [0.33, 0.68]}
    seeds: [0, 1, 2]
  - name: t1-zpl
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: paczpl,
             lr: 1e-4, clip: 1000, steps: 1000, num_subsets: 8}
    seeds: [0]
  - name: t3-dp
    tables: [table3]
    id: "{task}_{model}_{track}_dpaggzo_k{directions}_t{steps}_eps{epsilon}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: dpaggzo, directions: 4,
             lr: 5e-6, lr_schedule: constant, clip: 25, steps: 1000}
    grid: {epsilon: [2.0, 0.5]}
    seeds: [0]
  - name: abl
    tables: [appendix/ablation]
    id: "{task}_{model}_{track}_nonprivate_{ablation}_t{steps}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: nonprivate, lr: 5e-4, clip: 25}
    cases:
      - {ablation: raw_full, steps: 2000}
      - {ablation: quant_half, steps: 1000}
      - {ablation: quant_half, steps: 2000}
    seeds: [0]
"""

VALUES = {
    "sst2_opt-1.3b_ft_pacmi_mi0.33_s0": 90.0,
    "sst2_opt-1.3b_ft_pacmi_mi0.33_s1": 86.0,
    "sst2_opt-1.3b_ft_pacmi_mi0.33_s2": 88.0,
    "sst2_opt-1.3b_ft_pacmi_mi0.68_s0": 91.0,
    "sst2_opt-1.3b_ft_pacmi_mi0.68_s1": 91.5,
    "sst2_opt-1.3b_ft_pacmi_mi0.68_s2": 92.5,
    "sst2_opt-1.3b_ft_paczpl_s0": 80.0,
    "sst2_opt-1.3b_ft_dpaggzo_k4_t1000_eps2_s0": 75.126,
    "sst2_opt-1.3b_ft_dpaggzo_k4_t1000_eps0.5_s0": 52.0,
    "sst2_opt-1.3b_lora_nonprivate_raw_full_t2000_s0": 91.0,
    "sst2_opt-1.3b_lora_nonprivate_quant_half_t1000_s0": 85.0,
    "sst2_opt-1.3b_lora_nonprivate_quant_half_t2000_s0": 86.5,
}

PAPER_VALUES = {
    "values": [{
        "table": "table1",
        "row": {"task": "sst2", "model": "opt-1.3b", "track": "ft", "method": "paczpl", "budget_nats": 0},
        "mean": 88.99, "std": 0.91, "n": 3, "source": "arXiv 2605.06505 abstract",
    }],
    "references": [{
        "table": "table1", "label": "MeZO, non-private",
        "row": {"task": "sst2", "model": "opt-1.3b", "track": "ft", "method": "nonprivate"},
        "mean": 91.1, "source": "arXiv 2605.06505 abstract",
    }],
}


@pytest.fixture
def workspace(tmp_path):
    """Expanded cells, layouts and hand-written metrics.json of every cell under tmp_path/runs."""
    cells_file = tmp_path / "cells.yaml"
    cells_file.write_text(CELLS)
    config = {"cells_file": str(cells_file), "models": {"opt-1.3b": "facebook/opt-1.3b"}}
    cells = load_cells(config)
    layouts = load_layouts(config, cells=cells)
    recipes = {cell: training_recipe(recipe) for cell, recipe in cells.items()}
    runs = tmp_path / "runs"
    for cell, value in VALUES.items():
        privacy = {"method": recipes[cell]["method"]}
        if recipes[cell]["method"] == "dpaggzo":
            privacy.update(epsilon=recipes[cell]["epsilon"], delta=1e-5, noise_multiplier=1.2345678, realised_epsilon=1.9)
        metrics = {
            "cell": cell, "recipe": recipes[cell], "test": {"accuracy": value, "loss": 0.3},
            "dev": {"accuracy": value}, "best_step": 100, "privacy": privacy,
        }
        (runs / cell).mkdir(parents=True)
        (runs / cell / "metrics.json").write_text(json.dumps(metrics))
    return {"layouts": layouts, "recipes": recipes, "runs": runs, "tmp": tmp_path}


def full_document(workspace, table, paper_values=None):
    layout = workspace["layouts"][table]
    paths = [workspace["runs"] / cell / "metrics.json" for cell in layout.cells]
    aggregate_path = workspace["tmp"] / "aggregate.csv"
    write_csv(aggregate_table(paths, workspace["recipes"], layout), aggregate_path)
    return build_document(pd.read_csv(aggregate_path), layout, paper_values)


def rows_by(frame, **key):
    selected = frame
    for name, value in key.items():
        selected = selected[selected[name] == value]
    assert len(selected) == 1, key
    return selected.iloc[0]


def test_mean_std_two_decimals(workspace):
    frame = full_document(workspace, "table1").frame
    mi = rows_by(frame, method="pacmi", budget_nats="0.33")
    assert mi["mean"] == "88.00"
    assert mi["std"] == "2.00"
    assert mi["n"] == "3"
    assert mi["seeds"] == "0;1;2"
    high = rows_by(frame, method="pacmi", budget_nats="0.68")
    assert high["mean"] == "91.67"
    assert high["std"] == "0.76"


def test_std_empty_for_one_seed(workspace):
    frame = full_document(workspace, "table1").frame
    zpl = rows_by(frame, method="paczpl")
    assert zpl["mean"] == "80.00"
    assert zpl["std"] == ""
    assert zpl["n"] == "1"


def test_mia_bound_column(workspace):
    table1 = full_document(workspace, "table1").frame
    assert rows_by(table1, method="pacmi", budget_nats="0.33")["mia_bound_pct"] == "88.19"
    assert rows_by(table1, method="pacmi", budget_nats="0.68")["mia_bound_pct"] == "99.82"
    assert rows_by(table1, method="paczpl")["mia_bound_pct"] == "50.00"
    assert rows_by(table1, method="pacmi", budget_nats="0.33")["matched_epsilon"] == "2.01"

    table3 = full_document(workspace, "table3").frame
    assert rows_by(table3, method="dpaggzo", epsilon="2")["mia_bound_pct"] == "88.08"
    assert rows_by(table3, method="dpaggzo", epsilon="0.5")["mia_bound_pct"] == "62.25"

    ablation = full_document(workspace, "appendix/ablation").frame
    assert list(ablation["mia_bound_pct"]) == ["", "", ""]


def test_mia_bound_prior_from_subsets():
    recipe = {"method": "paczpl", "num_subsets": 8, "subsets_per_example": 2, "budget_nats": 0.0}
    assert mia_bound(recipe) == pytest.approx(0.75)
    assert mia_bound({**recipe, "subsets_per_example": None}) == pytest.approx(0.5)
    noise_free = {"method": "dpzero", "epsilon": 2.0, "delta": 1e-5, "dp_noise": False, "num_subsets": 8}
    assert mia_bound(noise_free) is None


def test_table3_dp_and_paczero_rows(workspace):
    document = full_document(workspace, "table3")
    assert any(sentence.startswith("Matched MI:") for sentence in document.caption)
    assert "Rows marked 'PACZero, table1 cells' repeat" in " ".join(document.caption)
    frame = document.frame
    assert list(frame["note"]) == ["", "", "PACZero, table1 cells", "PACZero, table1 cells", "PACZero, table1 cells"]
    dp = rows_by(frame, method="dpaggzo", epsilon="2")
    assert dp["directions"] == "4"
    assert dp["steps"] == "1000"
    assert dp["budget_nats"] == ""
    assert dp["matched_mi_nats"] == "0.328"
    assert dp["delta"] == "1e-5"
    assert dp["noise_multiplier"] == "1.235"
    assert dp["realised_epsilon"] == "1.9"
    assert dp["mean"] == "75.13"
    mi = rows_by(frame, method="pacmi", budget_nats="0.33")
    assert mi["epsilon"] == ""
    assert mi["mia_bound_pct"] == "88.19"
    assert mi["matched_mi_nats"] == ""
    assert mi["mean"] == "88.00"


def test_published_value_and_difference(workspace):
    paper_values = parse_paper_values(PAPER_VALUES)
    document = full_document(workspace, "table1", paper_values)
    frame = document.frame
    zpl = rows_by(frame, method="paczpl")
    assert zpl["published_mean"] == "88.99"
    assert zpl["published_std"] == "0.91"
    assert zpl["published_n"] == "3"
    assert zpl["diff"] == "-8.99"
    assert zpl["published_source"] == "arXiv 2605.06505 abstract"
    assert zpl["published_unverified"] == "no"
    mi = rows_by(frame, method="pacmi", budget_nats="0.33")
    assert mi["published_mean"] == ""
    assert mi["diff"] == ""

    cited = rows_by(frame, method="nonprivate")
    assert cited["note"] == "cited: MeZO, non-private"
    assert cited["metric"] == "accuracy"
    assert cited["published_mean"] == "91.1"
    assert cited["mean"] == ""
    assert cited["diff"] == ""

    markdown = render_markdown(document)
    assert "| 88.99 ± 0.91 (n=3) | -8.99 |" in markdown
    assert "source: arXiv 2605.06505 abstract" in markdown


def test_no_difference_under_overriding_preset(tmp_path):
    cells_file = tmp_path / "cells.yaml"
    cells_file.write_text(CELLS)
    config = {
        "cells_file": str(cells_file), "models": {"opt-1.3b": "tiny:opt-small"},
        "presets": {"paper": {}, "short": {"recipe": {"steps": 40}}},
    }
    cells = load_cells(config, preset="short")
    layout = load_layouts(config, "short", cells=cells)["table1"]
    recipes = {cell: training_recipe(cells[cell]) for cell in layout.cells}
    for cell in layout.cells:
        (tmp_path / "runs" / cell).mkdir(parents=True)
        (tmp_path / "runs" / cell / "metrics.json").write_text(json.dumps({
            "cell": cell, "recipe": recipes[cell], "test": {"accuracy": VALUES[cell]}, "dev": {},
            "best_step": 10, "privacy": {},
        }))
    document = build_partial_document(layout, tmp_path / "runs", recipes, parse_paper_values(PAPER_VALUES))
    zpl = rows_by(document.frame, method="paczpl")
    assert zpl["mean"] == "80.00"
    assert zpl["published_mean"] == "88.99"
    assert zpl["diff"] == ""
    assert "Ours - published stays empty where the preset changed the stated recipe." in document.caption


def test_no_published_columns_without_values(workspace):
    frame = full_document(workspace, "table1", PaperValues()).frame
    assert "published_mean" not in frame.columns
    assert "diff" not in frame.columns


def test_orphan_value_left_out_with_warning(workspace, caplog):
    entry = {**PAPER_VALUES["values"][0], "row": {**PAPER_VALUES["values"][0]["row"], "model": "opt-6.7b"}}
    document = full_document(workspace, "table1", parse_paper_values({"values": [entry]}))
    assert "published_mean" not in document.frame.columns
    assert "published value left out" in caplog.text
    assert "no row of table1 has" in caplog.text


def test_unverified_value_is_marked(workspace):
    entry = {**PAPER_VALUES["values"][0], "unverified": True, "source": "third-party summary"}
    document = full_document(workspace, "table1", parse_paper_values({"values": [entry]}))
    assert rows_by(document.frame, method="paczpl")["published_unverified"] == "yes"
    markdown = render_markdown(document)
    assert "88.99 ± 0.91 (n=3) (unverified)" in markdown
    assert "source: third-party summary (unverified)" in markdown


def test_csv_file_columns(workspace):
    document = full_document(workspace, "appendix/ablation")
    out = workspace["tmp"] / "out" / "ablation.csv"
    write_table_files(document, csv=out)
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["ablation", "steps", "metric", "mean", "std", "n", "seeds", "mia_bound_pct"]
    assert [(row["ablation"], row["steps"], row["mean"], row["std"]) for row in rows] == [
        ("raw_full", "2000", "91.00", ""), ("quant_half", "1000", "85.00", ""), ("quant_half", "2000", "86.50", ""),
    ]


def test_markdown_table(workspace):
    text = render_markdown(full_document(workspace, "table1"))
    lines = text.splitlines()
    assert lines[0] == "# table1"
    header = "| task | model | track | method | MI budget (nats) | metric | mean ± std | n | seeds | MIA bound (%) | matched ε |"
    assert header in lines
    assert "| sst2 | opt-1.3b | ft | pacmi | 0.33 | accuracy | 88.00 ± 2.00 | 3 | 0;1;2 | 88.19 | 2.01 |" in lines
    assert "| sst2 | opt-1.3b | ft | paczpl | 0 | accuracy | 80.00 | 1 | 0 | 50.00 | 0 |" in lines


def test_latex_escapes_and_booktabs(workspace):
    text = render_latex(full_document(workspace, "appendix/ablation"))
    assert r"\toprule" in text
    assert r"\midrule" in text
    assert r"\bottomrule" in text
    assert r"\begin{tabular}{lrlrrrl}" in text
    assert "raw\\_full & 2000 & accuracy & 91.00 & 1 & 0 &  \\\\\n" in text
    assert r"MIA bound (\%)" in text
    assert r"\label{tab:appendix-ablation}" in text
    assert "raw_full" not in text.replace(r"raw\_full", "")


def test_escape_latex_special_characters():
    assert escape_latex("a_b & 5% #1 $x {y} ~ ^ \\") == (
        r"a\_b \& 5\% \#1 \$x \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )
    assert escape_latex("88.99 ± 0.91") == r"88.99 $\pm$ 0.91"


def test_table_files_are_written_atomically(workspace):
    document = full_document(workspace, "table1")
    out = workspace["tmp"] / "tables"
    write_table_files(document, csv=out / "t.csv", markdown=out / "t.md", latex=out / "t.tex")
    assert sorted(path.name for path in out.iterdir()) == ["t.csv", "t.md", "t.tex"]


def test_full_table_rejects_missing_row(workspace):
    layout = workspace["layouts"]["table1"]
    paths = [workspace["runs"] / cell / "metrics.json" for cell in layout.cells if "paczpl" not in cell]
    aggregate = aggregate_table(paths, workspace["recipes"], layout)
    with pytest.raises(ValueError, match="no aggregated values for the row of cells sst2_opt-1.3b_ft_paczpl_s0"):
        build_document(aggregate, layout)


def test_partial_table_with_missing_metrics(workspace):
    runs = workspace["runs"]
    (runs / "sst2_opt-1.3b_ft_pacmi_mi0.33_s1" / "metrics.json").unlink()
    (runs / "sst2_opt-1.3b_ft_paczpl_s0" / "metrics.json").unlink()
    stale = runs / "sst2_opt-1.3b_ft_pacmi_mi0.68_s2" / "metrics.json"
    metrics = json.loads(stale.read_text())
    metrics["recipe"]["steps"] = 40
    stale.write_text(json.dumps(metrics))

    layout = workspace["layouts"]["table1"]
    document = build_partial_document(layout, runs, workspace["recipes"])
    frame = document.frame
    mi = rows_by(frame, method="pacmi", budget_nats="0.33")
    assert mi["mean"] == "89.00"
    assert mi["std"] == "1.41"
    assert mi["n"] == "2"
    assert mi["seeds"] == "0;2"
    assert mi["missing"] == "1"
    zpl = rows_by(frame, method="paczpl")
    assert zpl["n"] == "0"
    assert zpl["mean"] == ""
    assert zpl["missing"] == "0"
    assert rows_by(frame, method="pacmi", budget_nats="0.68")["missing"] == "2"

    assert set(document.missing) == {
        "sst2_opt-1.3b_ft_pacmi_mi0.33_s1", "sst2_opt-1.3b_ft_paczpl_s0", "sst2_opt-1.3b_ft_pacmi_mi0.68_s2",
    }
    assert document.missing["sst2_opt-1.3b_ft_paczpl_s0"] == "not trained yet"
    assert "steps: 40 -> 1000" in document.missing["sst2_opt-1.3b_ft_pacmi_mi0.68_s2"]

    markdown = render_markdown(document)
    assert markdown.startswith("# table1 (draft)\n\nDraft: 4 of 7 cells finished")
    assert "## Missing cells (3 of 7)" in markdown
    assert "- `sst2_opt-1.3b_ft_paczpl_s0`: not trained yet" in markdown
    csv_rows = list(csv.DictReader(io.StringIO(document.frame.to_csv(index=False))))
    assert len(csv_rows) == 3


def test_partial_table_without_any_metrics(workspace, tmp_path):
    layout = workspace["layouts"]["table3"]
    document = build_partial_document(layout, tmp_path / "no-runs", workspace["recipes"])
    assert list(document.frame["n"]) == ["0"] * 5
    assert list(document.frame["mean"]) == [""] * 5
    assert list(document.frame["mia_bound_pct"]) == ["88.08", "62.25", "88.19", "99.82", "50.00"]
    assert len(document.missing) == 9
