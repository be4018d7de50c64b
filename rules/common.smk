# Config loading, cell expansion and the input/params helpers of the rules.
import re

from snakemake.exceptions import WorkflowError

from paczero.cells import CellsError, cells_by_table, load_cells, resolve_settings, training_recipe
from paczero.resources import job_resources

# Invalid settings or cells stop the parse with the message alone, without a traceback.
try:
    CELLS = load_cells(config)
    SETTINGS = resolve_settings(config)
    RESOURCES = {
        cell: job_resources(recipe, SETTINGS.gpu_models, SETTINGS.cpu_only) for cell, recipe in CELLS.items()
    }
except (CellsError, FileNotFoundError, ValueError) as error:
    raise WorkflowError(str(error)) from None

RESULTS = config["results"]
TABLES = cells_by_table(CELLS)


wildcard_constraints:
    cell="|".join(re.escape(cell) for cell in CELLS),
    table="|".join(re.escape(table) for table in TABLES),


def all_table_files():
    """Return the rendered CSV and Markdown files of every table."""
    return [f"{RESULTS}/{table}.{ext}" for table in TABLES for ext in ("csv", "md")]


def recipe_for_cell(wildcards):
    """Return the training recipe of one cell: the train rule's only params."""
    return training_recipe(CELLS[wildcards.cell])


def metrics_for_table(wildcards):
    """Return the metrics.json of every cell of one table."""
    return [f"{RESULTS}/runs/{cell}/metrics.json" for cell in TABLES[wildcards.table]]


def recipes_for_table(wildcards):
    """Return cell id -> training recipe for the cells of one table."""
    return {cell: training_recipe(CELLS[cell]) for cell in TABLES[wildcards.table]}


def resource_for_cell(name):
    """Return a resource callable that reads `name` from the cell's job_resources (None: unset)."""

    def resource(wildcards):
        return RESOURCES[wildcards.cell][name]

    return resource
