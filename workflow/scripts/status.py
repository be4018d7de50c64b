"""Write the state of every cell to results/status.csv; the `status` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from paczero.io import atomic_write_text  # noqa: E402
from paczero.status import collect_status, format_csv  # noqa: E402

report = collect_status(dict(snakemake.params.recipes), snakemake.config["results"], "logs/train")  # noqa: F821
atomic_write_text(snakemake.output[0], format_csv(report))  # noqa: F821
logging.getLogger("paczero.workflow").info("%s", report.summary())
