"""Pages of the Snakemake report: a rendered table as a self-contained HTML page.

Snakemake's HTML report offers CSV files only as downloads but shows HTML
pages inline, so each table CSV gets an HTML view.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

__all__ = ["table_html"]

STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
th { border-bottom: 2px solid #444; }
td.text, th.text { text-align: left; }
caption { text-align: left; font-weight: bold; padding-bottom: 6px; }
"""


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_html(csv_path: str | Path, title: str) -> str:
    """Return an HTML page showing the table in `csv_path` (numbers to 4 significant digits).

    Empty CSV fields (a standard deviation of one seed) stay empty. The page
    names its source file, so a reader can find the full-precision CSV.
    """
    path = Path(csv_path)
    frame = pd.read_csv(path, keep_default_na=True)
    numeric = {column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])}

    def cell(tag: str, column: str, text: str) -> str:
        kind = "" if column in numeric else ' class="text"'
        return f"<{tag}{kind}>{html.escape(text)}</{tag}>"

    header = "".join(cell("th", column, column) for column in frame.columns)
    rows = [
        "<tr>" + "".join(cell("td", column, _cell_text(value)) for column, value in zip(frame.columns, record)) + "</tr>"
        for record in frame.itertuples(index=False, name=None)
    ]
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<table><caption>{html.escape(title)} ({len(frame)} rows; source {html.escape(str(path))})</caption>\n"
        f"<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n"
    )
