"""Train one cell with paczero.train.run_cell; the `train` rule's script."""

import logging
import sys
from pathlib import Path

# Send tracebacks and log records to the job's log file before anything can fail.
log_file = open(snakemake.log[0], "a", buffering=1)  # a resumed job appends  # noqa: F821 (snakemake is injected)
sys.stderr = log_file
logging.basicConfig(
    stream=log_file,
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    force=True,
)

import torch  # noqa: E402

from paczero.train import run_cell  # noqa: E402

torch.set_num_threads(snakemake.threads)  # noqa: F821
recipe = dict(snakemake.params.recipe)  # noqa: F821
out_dir = Path(snakemake.output.metrics).parent  # noqa: F821
logging.getLogger("paczero.workflow").info("training cell %s into %s", recipe["cell"], out_dir)
run_cell(recipe, out_dir, checkpoint_every=snakemake.config.get("checkpoint_every"))  # noqa: F821
