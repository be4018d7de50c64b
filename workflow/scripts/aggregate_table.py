"""Aggregate the seeds of one table's cells; the `aggregate` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from paczero.tables import aggregate_table, write_csv  # noqa: E402

frame = aggregate_table(snakemake.input.metrics, snakemake.params.recipes)  # noqa: F821
write_csv(frame, snakemake.output[0])  # noqa: F821
logging.getLogger("paczero.workflow").info("aggregated %d rows into %s", len(frame), snakemake.output[0])  # noqa: F821
