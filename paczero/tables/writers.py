"""CSV, Markdown and LaTeX (booktabs) files of a rendered table, each written atomically.

The CSV contains the document's columns as they are. Markdown and LaTeX merge
mean and std into "mean ± std" and the published columns into one
"published" column plus "ours − published", and list the sources of
published values under the table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from paczero.io import atomic_write_text
from paczero.tables.render import TableDocument

__all__ = [
    "escape_latex",
    "render_csv",
    "render_latex",
    "render_markdown",
    "write_table_files",
]

# Column -> (Markdown header, LaTeX header). Other columns use their name, escaped for LaTeX.
HEADERS = {
    "note": ("", ""),
    "budget_nats": ("MI budget (nats)", "MI budget (nats)"),
    "directions": ("K", "$K$"),
    "steps": ("T", "$T$"),
    "epsilon": ("ε", r"$\varepsilon$"),
    "clip": ("clip", "clip $c$"),
    "lora_r": ("LoRA r", "LoRA $r$"),
    "num_subsets": ("M", "$M$"),
    "mean_std": ("mean ± std", r"mean $\pm$ std"),
    "n": ("n", "$n$"),
    "missing": ("missing seeds", "missing seeds"),
    "mia_bound_pct": ("MIA bound (%)", r"MIA bound (\%)"),
    "matched_epsilon": ("matched ε", r"matched $\varepsilon$"),
    "matched_mi_nats": ("matched MI (nats)", "matched MI (nats)"),
    "delta": ("δ", r"$\delta$"),
    "noise_multiplier": ("noise multiplier", "noise multiplier"),
    "realised_epsilon": ("realised ε", r"realised $\varepsilon$"),
    "published": ("published", "published"),
    "diff": ("ours − published", r"ours $-$ published"),
}
# Columns that the readable formats leave out or merge into others.
MERGED = {"std", "published_std", "published_n", "published_source", "published_unverified"}
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": r"$-$",
    "ε": r"$\varepsilon$",
    "δ": r"$\delta$",
}
LATEX_PATTERN = re.compile("|".join(re.escape(character) for character in LATEX_SPECIAL))
NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters (and ±, −, ε, δ) in plain text."""
    return LATEX_PATTERN.sub(lambda match: LATEX_SPECIAL[match.group(0)], str(text))


def render_csv(document: TableDocument) -> str:
    return document.frame.to_csv(index=False)


def _readable_rows(document: TableDocument) -> tuple[list[str], list[list[str]]]:
    """Return the columns and rows of the Markdown and LaTeX tables, with merged mean ± std and published."""
    columns: list[str] = []
    for name in document.frame.columns:
        if name == "mean":
            columns.append("mean_std")
        elif name == "published_mean":
            columns.append("published")
        elif name not in MERGED:
            columns.append(name)

    rows = []
    for record in document.frame.to_dict("records"):
        cells = []
        for name in columns:
            if name == "mean_std":
                cells.append(record["mean"] + (f" ± {record['std']}" if record["std"] else ""))
            elif name == "published":
                cells.append(_published_text(record))
            else:
                cells.append(str(record[name]))
        rows.append(cells)
    return columns, rows


def _published_text(record: dict[str, str]) -> str:
    if not record["published_mean"]:
        return ""
    text = record["published_mean"]
    if record["published_std"]:
        text += f" ± {record['published_std']}"
    if record["published_n"]:
        text += f" (n={record['published_n']})"
    if record["published_unverified"] == "yes":
        text += " (unverified)"
    return text


def _title(document: TableDocument) -> str:
    return f"{document.table} (draft)" if document.draft else document.table


def _finished_line(document: TableDocument) -> str:
    finished = document.total_cells - len(document.missing)
    return f"Draft: {finished} of {document.total_cells} cells finished; the rows use the seeds that exist."


def render_markdown(document: TableDocument) -> str:
    """Format a document as Markdown: title, caption, pipe table, sources and, for drafts, the missing cells."""
    columns, rows = _readable_rows(document)
    lines = [f"# {_title(document)}", ""]
    if document.draft:
        lines += [_finished_line(document), ""]
    lines += [" ".join(document.caption), ""]
    lines.append("| " + " | ".join(HEADERS.get(name, (name, name))[0] for name in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for cells in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    if document.sources:
        lines += ["", "Published values:", ""]
        lines += [f"- {source}" for source in document.sources]
    if document.missing:
        lines += ["", f"## Missing cells ({len(document.missing)} of {document.total_cells})", ""]
        lines += [f"- `{cell}`: {reason}" for cell, reason in document.missing.items()]
    return "\n".join(lines) + "\n"


def _alignment(columns: Sequence[str], rows: list[list[str]]) -> str:
    """Right-align columns whose values are all numbers (or empty), left-align the others."""
    spec = ""
    for position, _ in enumerate(columns):
        values = [row[position].split(" ")[0] for row in rows if row[position]]
        spec += "r" if values and all(NUMBER.match(value) for value in values) else "l"
    return spec


def render_latex(document: TableDocument) -> str:
    """Format a document as a LaTeX table with booktabs rules; needs \\usepackage{booktabs}."""
    columns, rows = _readable_rows(document)
    label = re.sub(r"[^A-Za-z0-9]+", "-", document.table)
    caption = " ".join(document.caption)
    if document.draft:
        caption = f"{_finished_line(document)} {caption}"
    lines = [
        f"% {_title(document)}: generated by paczero.tables from the runs' metrics.json; edits are overwritten.",
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{escape_latex(_title(document))}: {escape_latex(caption)}}}",
        rf"\label{{tab:{label}}}",
        r"\begin{tabular}{" + _alignment(columns, rows) + "}",
        r"\toprule",
        " & ".join(HEADERS[name][1] if name in HEADERS else escape_latex(name) for name in columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(escape_latex(cell) for cell in cells) + r" \\" for cells in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if document.sources:
        sources = "; ".join(escape_latex(source) for source in document.sources)
        lines += [r"\par\smallskip", rf"{{\footnotesize Published values: {sources}.}}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table_files(
    document: TableDocument,
    *,
    csv: str | Path | None = None,
    markdown: str | Path | None = None,
    latex: str | Path | None = None,
) -> None:
    """Write the requested formats, each through a temporary file and rename."""
    if csv is not None:
        atomic_write_text(csv, render_csv(document))
    if markdown is not None:
        atomic_write_text(markdown, render_markdown(document))
    if latex is not None:
        atomic_write_text(latex, render_latex(document))
