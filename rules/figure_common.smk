# Input, param and target helpers of the figure, report and status rules.
from paczero.figure_data import FIGURE_NAMES, cell_groups, figure_cells, pac_groups

try:
    GROUPS = cell_groups(config)
except (CellsError, FileNotFoundError) as error:
    raise WorkflowError(str(error)) from None
FIGURE_CELLS = figure_cells(CELLS, GROUPS)


def all_figure_files():
    """Return the PDF and PNG of every summary figure that has cells, and of every cell's curves."""
    names = [name for name in FIGURE_NAMES if FIGURE_CELLS[name]]
    summary = [f"{RESULTS}/figures/{name}.{ext}" for name in names for ext in ("pdf", "png")]
    runs = [f"{RESULTS}/figures/runs/{cell}.{ext}" for cell in CELLS for ext in ("pdf", "png")]
    return summary + runs


def figure_params(name):
    """Return the recipes and (for unanimity) the PAC groups one summary figure reads."""
    recipes = {cell: CELLS[cell] for cell in FIGURE_CELLS[name]}
    groups = pac_groups(CELLS, GROUPS) if name == "unanimity" else {}
    return {"recipes": recipes, "groups": groups}


def first_table(wildcards):
    """Return the first table a cell feeds: the report's subcategory of its curves."""
    return CELLS[wildcards.cell]["table"][0]


def all_report_files():
    """Return the HTML page of every table, the report's view of the table CSV files."""
    return [f"{RESULTS}/report/tables/{table}.html" for table in TABLES]


def table_kind(wildcards):
    """Return the report's subcategory of a table: appendix or main."""
    return "appendix" if wildcards.table.startswith("appendix/") else "main"
