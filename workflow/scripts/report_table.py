"""Render one table's CSV as an HTML page for the report; the `report_table` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from paczero.io import atomic_write_text  # noqa: E402
from paczero.report import table_html  # noqa: E402

atomic_write_text(snakemake.output[0], table_html(snakemake.input[0], snakemake.wildcards.table))  # noqa: F821
