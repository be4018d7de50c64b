"""Aggregate the seeds of each row of one table; the `aggregate` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from paczero.tables import TableLayout, aggregate_table, write_csv  # noqa: E402

layout = TableLayout.from_dict(snakemake.params.layout)  # noqa: F821
frame = aggregate_table(snakemake.input.metrics, snakemake.params.recipes, layout)  # noqa: F821
write_csv(frame, snakemake.output[0])  # noqa: F821
logging.getLogger("paczero.workflow").info("aggregated %d rows into %s", len(frame), snakemake.output[0])  # noqa: F821
