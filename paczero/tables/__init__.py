"""Tables from the runs' metrics.json files: aggregation, privacy bounds, published values, files.

- `layout`: the rows and key columns of each table, from the expanded cells.
- `metrics`: reading and checking one metrics.json.
- `aggregate`: the seeds of each row: mean, sample std, n, seeds.
- `bounds`: the membership-inference bound of a row and the matched MI or epsilon.
- `paper_values`: published values from config/paper_values.yaml, matched to rows.
- `render`: the reader's table with every value formatted.
- `writers`: CSV, Markdown and LaTeX files, written atomically.
- `partial`: draft tables from the cells that have finished.
"""

from paczero.tables.aggregate import (
    SUMMARY_COLUMNS,
    aggregate_loaded,
    aggregate_table,
    load_available_metrics,
    write_csv,
)
from paczero.tables.bounds import matched_epsilon, matched_mi_nats, membership_prior, mia_bound
from paczero.tables.layout import LayoutRow, TableLayout, build_layouts, load_layouts
from paczero.tables.metrics import (
    REQUIRED_METRICS_KEYS,
    TASK_METRICS,
    MetricsError,
    load_metrics,
    recipe_differences,
)
from paczero.tables.paper_values import (
    PaperValue,
    PaperValues,
    PaperValuesError,
    TableMatch,
    check_paper_values,
    load_paper_values,
    match_paper_values,
    paper_value_problems,
    parse_paper_values,
)
from paczero.tables.partial import build_partial_document, finished_metrics
from paczero.tables.render import TableDocument, build_document, format_decimal, format_key
from paczero.tables.writers import escape_latex, render_csv, render_latex, render_markdown, write_table_files

__all__ = [
    "REQUIRED_METRICS_KEYS",
    "SUMMARY_COLUMNS",
    "TASK_METRICS",
    "LayoutRow",
    "MetricsError",
    "PaperValue",
    "PaperValues",
    "PaperValuesError",
    "TableDocument",
    "TableLayout",
    "TableMatch",
    "aggregate_loaded",
    "aggregate_table",
    "build_document",
    "build_layouts",
    "build_partial_document",
    "check_paper_values",
    "escape_latex",
    "finished_metrics",
    "format_decimal",
    "format_key",
    "load_available_metrics",
    "load_layouts",
    "load_metrics",
    "load_paper_values",
    "match_paper_values",
    "matched_epsilon",
    "matched_mi_nats",
    "membership_prior",
    "mia_bound",
    "paper_value_problems",
    "parse_paper_values",
    "recipe_differences",
    "render_csv",
    "render_latex",
    "render_markdown",
    "write_csv",
    "write_table_files",
]
