"""Render one table as CSV and Markdown; the `render_table` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

import pandas as pd  # noqa: E402

from paczero.tables import render_markdown, render_table, write_csv, write_markdown  # noqa: E402

table_name = snakemake.wildcards.table  # noqa: F821
table = render_table(pd.read_csv(snakemake.input[0]), table_name)  # noqa: F821
write_csv(table, snakemake.output.csv)  # noqa: F821
write_markdown(render_markdown(table, table_name), snakemake.output.md)  # noqa: F821
