# Config loading, cell expansion and the input/params helpers of the rules.
import re

from snakemake.exceptions import WorkflowError

from paczero.cells import CellsError, cells_by_table, load_cells, resolve_settings, training_recipe
from paczero.resources import job_resources
from snakemake.logging import logger

from paczero.tables import PaperValuesError, finished_metrics, load_layouts, load_paper_values, paper_value_problems

# Published values shown beside the rows of the tables.
PAPER_VALUES = "config/paper_values.yaml"

# Invalid settings or cells stop the parse with the message alone, without a traceback.
try:
    CELLS = load_cells(config)
    SETTINGS = resolve_settings(config)
    RESOURCES = {
        cell: job_resources(recipe, SETTINGS.gpu_models, SETTINGS.cpu_only) for cell, recipe in CELLS.items()
    }
    # The rows of each table; table3 also lists the table1 runs it is compared with.
    LAYOUTS = load_layouts(config, cells=CELLS)
    # A cells file of your own may lack a row that has a published value: warn, do not stop.
    for problem in paper_value_problems(load_paper_values(PAPER_VALUES), LAYOUTS):
        logger.warning(f"published value left out: {problem}")
except (CellsError, PaperValuesError, FileNotFoundError, ValueError) as error:
    raise WorkflowError(str(error)) from None

RESULTS = config["results"]
TABLES = cells_by_table(CELLS)


wildcard_constraints:
    cell="|".join(re.escape(cell) for cell in CELLS),
    table="|".join(re.escape(table) for table in TABLES),


def all_table_files():
    """Return the rendered CSV, Markdown and LaTeX files of every table."""
    return [f"{RESULTS}/{table}.{ext}" for table in TABLES for ext in ("csv", "md", "tex")]


def recipe_for_cell(wildcards):
    """Return the training recipe of one cell: the train rule's only params."""
    return training_recipe(CELLS[wildcards.cell])


def metrics_for_table(wildcards):
    """Return the metrics.json of every cell that one table shows, its reference rows included."""
    return [f"{RESULTS}/runs/{cell}/metrics.json" for cell in LAYOUTS[wildcards.table].cells]


def recipes_for_table(wildcards):
    """Return cell id -> training recipe for the cells that one table shows."""
    return {cell: training_recipe(CELLS[cell]) for cell in LAYOUTS[wildcards.table].cells}


def layout_for_table(wildcards):
    """Return the rows and key columns of one table as plain values."""
    return LAYOUTS[wildcards.table].to_dict()


def finished_for_table(wildcards):
    """Return [cell, mtime, size] per existing metrics.json of one table: the draft reruns when it changes."""
    return finished_metrics(LAYOUTS[wildcards.table].cells, f"{RESULTS}/runs")


def resource_for_cell(name):
    """Return a resource callable that reads `name` from the cell's job_resources (None: unset)."""

    def resource(wildcards):
        return RESOURCES[wildcards.cell][name]

    return resource
