"""Audit one PAC-MI or PAC-ZPL cell's releases; the `audit` rule's script."""

import logging
import sys
from pathlib import Path

log_file = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.stderr = log_file
logging.basicConfig(stream=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)

import torch  # noqa: E402

from paczero.audit_run import audit_run, plot_audit  # noqa: E402
from paczero.privacy.audit import write_audit_csv  # noqa: E402

torch.set_num_threads(snakemake.threads)  # noqa: F821
run_dir = Path(snakemake.input.metrics).parent  # noqa: F821
cell = snakemake.wildcards.cell  # noqa: F821
results, stream = audit_run(
    run_dir,
    replays=snakemake.params.replays,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    budgets=snakemake.params.budgets,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
write_audit_csv(results, snakemake.output.csv, extra={"cell": cell, "sign_mismatches": stream.mismatches})  # noqa: F821
plot_audit(results, snakemake.output.figure, title=f"{cell}: membership audit")  # noqa: F821
logger = logging.getLogger("paczero.workflow")
for result in results:
    (logger.info if result.within_bound else logger.error)("%s", result.summary_line())
