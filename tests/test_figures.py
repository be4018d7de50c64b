"""Figures drawn from hand-written metrics.json and diagnostics.jsonl files in temporary folders."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from matplotlib.text import Text

from paczero.cells import load_cells
from paczero.cli import main
from paczero.figure_data import (
    FigureInputError,
    cell_groups,
    dp_cliff_cells,
    figure_cells,
    ladder_cells,
    load_runs,
    plateau_cells,
    read_diagnostics,
    unanimity_cells,
)
from paczero.figures import (
    MIN_FONT_PT,
    PNG_DPI,
    RUN_PNG_DPI,
    draw_dp_cliff,
    draw_plateau,
    draw_run,
    draw_t_ladder,
    draw_unanimity,
    make_figure,
    make_run_figure,
    save_figure,
)
from paczero.privacy.conversions import dp_to_success_bound, mi_to_success_bound
from run_fixtures import dp_diagnostics, load_test_cells, pac_diagnostics, write_run


def png_size(path):
    """Return (width, height) in pixels from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def build_world(root):
    """Write a config with every figure's cells, and a finished run with its own accuracy per cell."""
    config, cells = load_test_cells(root)
    results = root / "results"
    accuracies = {}
    for index, (cell, recipe) in enumerate(cells.items()):
        accuracy = 60.0 + index
        accuracies[cell] = accuracy
        if recipe["method"] in ("dpzero", "dpaggzo"):
            diagnostics = dp_diagnostics(recipe, recipe["steps"])
            free = 0
        else:
            diagnostics = pac_diagnostics(recipe, recipe["steps"])
            free = sum(1 for record in diagnostics if record["release"] == "free")
        write_run(results, recipe, accuracy, free_steps=free, diagnostics=diagnostics)
    groups = cell_groups(config)
    return {"config": config, "cells": cells, "results": results, "groups": groups, "accuracy": accuracies}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Runs that the tests only read."""
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture()
def fresh_world(tmp_path):
    """Runs that a test may delete or change."""
    return build_world(tmp_path / "fresh")


def series_points(figure):
    """Return label -> (x, y) arrays of the data lines of a figure's first axes."""
    axes = figure.axes[0]
    points = {}
    for container in axes.containers:
        line = container.lines[0]
        points[container.get_label()] = (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
    return points


def small_texts(figure):
    return [
        (text.get_text(), text.get_fontsize())
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_PT
    ]


# ---------------------------------------------------------------- selections


def test_selections_of_paper_cells(repo_root):
    cells = load_cells(repo_root / "config" / "config.yaml", preset="paper",
                       cells_file=repo_root / "config" / "cells.yaml")
    plateau = plateau_cells(cells)
    assert len(plateau) == 30
    assert {cells[c]["track"] for c in plateau} == {"lora", "ft"}
    cliff = dp_cliff_cells(cells)
    assert sum(cells[c]["method"] in ("dpzero", "dpaggzo") for c in cliff) == 12
    pac = [c for c in cliff if cells[c]["method"] in ("pacmi", "paczpl")]
    assert len(pac) == 11  # 8 PAC-MI (2 budgets x 4 seeds) and 3 PAC-ZPL seeds
    assert all(cells[c]["model"] == "opt-1.3b" and cells[c]["track"] == "ft" for c in pac)
    ladder = ladder_cells(cells)
    assert len(ladder) == 11
    assert all(cells[c]["method"] == "paczpl" for c in ladder)


def test_cell_groups_lists_shared_cells(world):
    groups = world["groups"]
    assert list(groups)[:2] == ["t1-ft-pacmi", "t1-ft-paczpl"]
    assert groups["t1-ft-pacmi"] == ["sst2_opt-1.3b_ft_pacmi_mi0.33_s0", "sst2_opt-1.3b_ft_pacmi_mi0.33_s1"]
    assert "sst2_opt-1.3b_ft_pacmi_mi0.33_s0" in groups["plateau-ft"]
    unanimity = unanimity_cells(world["cells"], groups)
    assert "sst2_opt-1.3b_lora_nonprivate_raw_full_s0" not in unanimity
    assert not any("dp" in cell for cell in unanimity)
    assert set(figure_cells(world["cells"], groups)) == {"plateau", "dp_cliff", "unanimity", "t_ladder"}


# ---------------------------------------------------------------- files


def test_save_figure_writes_pdf_and_png(world, tmp_path):
    figure = draw_plateau(world["cells"], world["results"])
    width, height = figure.get_size_inches()
    out = tmp_path / "out"
    paths = save_figure(figure, [out / "plateau.pdf", out / "plateau.png"])
    assert [p.name for p in paths] == ["plateau.pdf", "plateau.png"]
    assert (out / "plateau.pdf").read_bytes()[:5] == b"%PDF-"
    assert (out / "plateau.pdf").stat().st_size > 1000
    assert png_size(out / "plateau.png") == (round(width * PNG_DPI), round(height * PNG_DPI))
    assert sorted(p.name for p in out.iterdir()) == ["plateau.pdf", "plateau.png"]  # no temporary files left


def test_save_figure_rejects_svg(world, tmp_path):
    figure = draw_plateau(world["cells"], world["results"])
    with pytest.raises(ValueError, match=r"\.svg"):
        save_figure(figure, [tmp_path / "plateau.svg"])
    assert not list(tmp_path.glob("plateau*"))


@pytest.mark.parametrize("name", ["plateau", "dp_cliff", "unanimity", "t_ladder"])
def test_make_figure_writes_files(world, tmp_path, name):
    paths = make_figure(name, world["cells"], world["results"], [tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"],
                        groups=world["groups"])
    assert paths[0].read_bytes()[:5] == b"%PDF-"
    width, height = png_size(paths[1])
    assert width == round(6.5 * PNG_DPI)
    assert height > 400


def test_make_figure_unknown_name(world, tmp_path):
    with pytest.raises(ValueError, match="unknown figure 'cliff'"):
        make_figure("cliff", world["cells"], world["results"], [tmp_path / "x.png"])


# ---------------------------------------------------------------- contents


def test_plateau_points_are_budgets(world):
    figure = draw_plateau(world["cells"], world["results"])
    points = series_points(figure)
    assert set(points) == {"OPT-1.3B LoRA", "OPT-1.3B full FT"}
    x, y = points["OPT-1.3B LoRA"]
    assert list(x) == [1e-3, 0.33]
    expected = [world["accuracy"]["sst2_opt-1.3b_lora_pacmi_mi1e-3_s0"],
                world["accuracy"]["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"]]
    assert list(y) == expected
    assert figure.axes[0].get_xscale() == "log"
    top = [axes for axes in figure.axes[0].child_axes]
    assert top, "the success-bound axis is missing"
    assert "success bound" in top[0].get_xlabel()


def test_dp_cliff_points_at_success_bounds(world):
    figure = draw_dp_cliff(world["cells"], world["results"])
    points = series_points(figure)
    dpzero = points["DPZero (K=1, T=20)"]
    assert np.allclose(dpzero[0], [dp_to_success_bound(0.5, 1e-5), dp_to_success_bound(2.0, 1e-5)])
    assert np.allclose(points["DP-AggZO (K=4, T=20)"][0], [dp_to_success_bound(1.0, 1e-5)])
    assert np.allclose(points["PAC-ZPL"][0], [0.5])
    pacmi_x, pacmi_y = points["PAC-MI"]
    assert np.allclose(pacmi_x, [mi_to_success_bound(0.33, 0.5)])
    seeds = [world["accuracy"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s0"], world["accuracy"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s1"]]
    assert np.allclose(pacmi_y, [np.mean(seeds)])


def test_dp_cliff_error_bar_is_sample_std(world):
    figure = draw_dp_cliff(world["cells"], world["results"])
    container = next(c for c in figure.axes[0].containers if c.get_label() == "PAC-MI")
    segments = container.lines[2][0].get_segments()
    low, high = segments[0][0][1], segments[0][1][1]
    seeds = [world["accuracy"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s0"], world["accuracy"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s1"]]
    assert high - low == pytest.approx(2 * np.std(seeds, ddof=1))


def test_unanimity_bars_are_group_means(world):
    figure = draw_unanimity(world["cells"], world["groups"], world["results"])
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert "ablation" not in labels
    assert "dp-zero" not in labels
    assert labels[0] == "t1-ft-pacmi"
    widths = [patch.get_width() for patch in figure.axes[0].patches]
    # pac_diagnostics marks releases 0, 4, 8, ... free: ceil(T / 4) of T steps.
    expected = [
        np.mean([100.0 * math.ceil(world["cells"][c]["steps"] / 4) / world["cells"][c]["steps"]
                 for c in world["groups"][label]])
        for label in labels
    ]
    assert expected[0] == pytest.approx(25.0)
    assert expected[-2] == pytest.approx((30.0 + 800 / 30) / 2)  # the ladder of T = 10 and T = 30
    assert widths == pytest.approx(expected)


def test_t_ladder_uses_steps(world):
    figure = draw_t_ladder(world["cells"], world["results"])
    points = series_points(figure)
    ft = next(value for label, value in points.items() if "full FT" in label)
    assert list(ft[0]) == [10, 30]
    single = next(value for label, value in points.items() if "OPT-6.7B" in label)
    assert list(single[0]) == [15]


def test_fonts_at_least_8_pt(world):
    figures = [
        draw_plateau(world["cells"], world["results"]),
        draw_dp_cliff(world["cells"], world["results"]),
        draw_unanimity(world["cells"], world["groups"], world["results"]),
        draw_t_ladder(world["cells"], world["results"]),
        draw_run("sst2_opt-1.3b_ft_pacmi_mi0.33_s0", world["cells"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s0"],
                 world["results"]),
    ]
    for figure in figures:
        figure.canvas.draw()
        assert small_texts(figure) == []


def test_axes_have_labels(world):
    figure = draw_dp_cliff(world["cells"], world["results"])
    assert "success bound" in figure.axes[0].get_xlabel()
    assert figure.axes[0].get_ylabel() == "test accuracy (%)"
    assert figure.axes[0].get_legend() is not None


# ---------------------------------------------------------------- missing cells


def test_missing_cell_names_it(fresh_world):
    missing = "sst2_opt-1.3b_ft_pacmi_mi1e-3_s0"
    (fresh_world["results"] / "runs" / missing / "metrics.json").unlink()
    with pytest.raises(FigureInputError, match=missing) as error:
        draw_plateau(fresh_world["cells"], fresh_world["results"])
    assert "1 cells lack a usable metrics.json" in str(error.value)
    assert "partial=True" in str(error.value)


def test_partial_skips_missing_cell(fresh_world, tmp_path):
    missing = "sst2_opt-1.3b_ft_pacmi_mi1e-3_s0"
    (fresh_world["results"] / "runs" / missing / "metrics.json").unlink()
    figure = draw_plateau(fresh_world["cells"], fresh_world["results"], partial=True)
    assert "1 of 4 cells not plotted" in figure._suptitle.get_text()
    x, _ = series_points(figure)["OPT-1.3B full FT"]
    assert list(x) == [0.33]
    paths = save_figure(figure, [tmp_path / "partial.png"])
    assert paths[0].stat().st_size > 0


def test_partial_without_any_cell_fails(fresh_world):
    for cell in plateau_cells(fresh_world["cells"]):
        (fresh_world["results"] / "runs" / cell / "metrics.json").unlink()
    with pytest.raises(FigureInputError, match="none of its 4 cells"):
        draw_plateau(fresh_world["cells"], fresh_world["results"], partial=True)


def test_stale_recipe_is_rejected(fresh_world):
    cell = "sst2_opt-1.3b_lora_pacmi_mi0.33_s0"
    path = fresh_world["results"] / "runs" / cell / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["recipe"]["lr"] = 0.1
    path.write_text(json.dumps(metrics))
    with pytest.raises(FigureInputError, match="different recipe"):
        load_runs(fresh_world["results"], fresh_world["cells"], [cell], figure="plateau")


def test_figure_without_cells(world):
    cells = {c: r for c, r in world["cells"].items() if "table3" not in r["table"] and "table1" not in r["table"]}
    with pytest.raises(FigureInputError, match="defines none of its cells"):
        draw_dp_cliff(cells, world["results"])


# ---------------------------------------------------------------- training curves


def test_run_figure_pac_panels(world, tmp_path):
    cell = "sst2_opt-1.3b_ft_pacmi_mi0.33_s0"
    figure = draw_run(cell, world["cells"][cell], world["results"])
    visible = [axes for axes in figure.axes if axes.get_visible()]
    labels = [axes.get_ylabel() for axes in visible]
    assert labels == ["train loss (nats/example)", "learning rate", "cumulative MI (nats)",
                      "free releases\n(cumulative %)", "posterior entropy (nats)", "clipped estimates (%)"]
    budget = [line for line in visible[2].get_lines() if line.get_label().startswith("budget")]
    assert budget and budget[0].get_ydata()[0] == pytest.approx(0.33)
    assert "dev-best step 10" in figure._suptitle.get_text()
    paths = make_run_figure(cell, world["cells"][cell], world["results"], [tmp_path / "run.pdf", tmp_path / "run.png"])
    assert png_size(paths[1]) == (round(6.5 * RUN_PNG_DPI), round((0.6 + 1.9 * 3) * RUN_PNG_DPI))


def test_run_figure_dp_panels(world):
    cell = "sst2_opt-1.3b_ft_dpaggzo_eps1_s0"
    figure = draw_run(cell, world["cells"][cell], world["results"])
    labels = [axes.get_ylabel() for axes in figure.axes if axes.get_visible()]
    assert labels == ["train loss (nats/example)", "learning rate", "Poisson batch size\n(examples)",
                      "clipped estimates (%)"]
    losses = figure.axes[0].get_lines()[0].get_ydata()
    assert math.isnan(losses[3])  # the empty sample's step


def test_run_figure_needs_diagnostics(fresh_world):
    cell = "sst2_opt-1.3b_ft_paczpl_s0"
    (fresh_world["results"] / "runs" / cell / "diagnostics.jsonl").unlink()
    with pytest.raises(FigureInputError, match=f"cell {cell}: .*diagnostics.jsonl not found"):
        draw_run(cell, fresh_world["cells"][cell], fresh_world["results"])


def test_run_figure_needs_metrics(fresh_world):
    cell = "sst2_opt-1.3b_ft_paczpl_s0"
    (fresh_world["results"] / "runs" / cell / "metrics.json").unlink()
    with pytest.raises(FigureInputError, match=f"cell {cell}: .*not found; train the cell first"):
        draw_run(cell, fresh_world["cells"][cell], fresh_world["results"])


# ---------------------------------------------------------------- diagnostics


def test_read_diagnostics_several_directions(tmp_path, world):
    recipe = dict(world["cells"]["sst2_opt-1.3b_ft_pacmi_mi0.33_s0"], directions=3)
    records = pac_diagnostics(recipe, 4, free_every=2)
    path = tmp_path / "diagnostics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    frame = read_diagnostics(path)
    assert list(frame["step"]) == [0, 1, 2, 3]
    assert list(frame["releases"]) == [3, 3, 3, 3]
    assert list(frame["free_releases"]) == [2, 1, 2, 1]  # releases 0, 2, 4, ... are free
    assert list(frame["cumulative_mi"]) == pytest.approx([r["cumulative_mi"][-1] for r in records])
    assert list(frame["posterior_entropy"]) == pytest.approx([r["posterior_entropy"][-1] for r in records])


def test_read_diagnostics_rejects_bad_line(tmp_path):
    path = tmp_path / "diagnostics.jsonl"
    path.write_text('{"step": 0, "lr": 0.1}\n{"lr": 0.1}\n')
    with pytest.raises(FigureInputError, match=r"diagnostics.jsonl:2: expected a JSON object with a 'step'"):
        read_diagnostics(path)
    path.write_text('{"step": 0\n')
    with pytest.raises(FigureInputError, match=r"diagnostics.jsonl:1: invalid JSON"):
        read_diagnostics(path)


# ---------------------------------------------------------------- command line


def test_cli_figure_partial(fresh_world, tmp_path, capsys):
    missing = "sst2_opt-1.3b_lora_pacmi_mi1e-3_s0"
    (fresh_world["results"] / "runs" / missing / "metrics.json").unlink()
    arguments = ["figure", "plateau", "--config", str(fresh_world["config"]), "--out", str(tmp_path / "figs")]
    assert main(arguments) == 2
    assert missing in capsys.readouterr().err
    assert main(arguments + ["--partial"]) == 0
    assert (tmp_path / "figs" / "plateau.pdf").read_bytes()[:5] == b"%PDF-"
    assert png_size(tmp_path / "figs" / "plateau.png")[0] == round(6.5 * PNG_DPI)


def test_cli_figure_run(world, tmp_path, capsys):
    cell = "sst2_opt-1.3b_ft_paczpl_s0"
    arguments = ["figure", "run", "--config", str(world["config"]), "--out", str(tmp_path)]
    assert main(arguments) == 2
    assert "figure 'run' needs --cell ID" in capsys.readouterr().err
    assert main(arguments + ["--cell", cell]) == 0
    assert (tmp_path / f"{cell}.png").stat().st_size > 0
    assert main(["figure", "plateau", "--config", str(world["config"]), "--cell", cell]) == 2
    assert "--cell applies to figure 'run' only" in capsys.readouterr().err


def test_run_figure_without_steps(fresh_world):
    cell = "sst2_opt-1.3b_lora_nonprivate_raw_full_s0"
    (fresh_world["results"] / "runs" / cell / "diagnostics.jsonl").write_text("")
    figure = draw_run(cell, fresh_world["cells"][cell], fresh_world["results"])
    texts = [text.get_text() for text in figure.findobj(Text)]
    assert "no training steps logged (method nonprivate)" in texts
