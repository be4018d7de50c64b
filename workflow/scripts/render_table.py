"""Render one table as CSV, Markdown and LaTeX; the `render_table` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

import pandas as pd  # noqa: E402

from paczero.tables import TableLayout, build_document, load_paper_values, write_table_files  # noqa: E402

layout = TableLayout.from_dict(snakemake.params.layout)  # noqa: F821
aggregate = pd.read_csv(snakemake.input.aggregate)  # noqa: F821
document = build_document(aggregate, layout, load_paper_values(snakemake.input.paper_values))  # noqa: F821
output = snakemake.output  # noqa: F821
write_table_files(document, csv=output.csv, markdown=output.md, latex=output.tex)
