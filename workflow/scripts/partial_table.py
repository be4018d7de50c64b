"""Build the draft of one table from the cells finished so far; the `partial_table` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from paczero.tables import TableLayout, build_partial_document, load_paper_values, write_table_files  # noqa: E402

layout = TableLayout.from_dict(snakemake.params.layout)  # noqa: F821
paper_values = load_paper_values(snakemake.input.paper_values)  # noqa: F821
document = build_partial_document(layout, snakemake.params.runs, snakemake.params.recipes, paper_values)  # noqa: F821
write_table_files(document, csv=snakemake.output.csv, markdown=snakemake.output.md)  # noqa: F821
