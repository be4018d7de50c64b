"""Train one cell with paczero.train.run_cell; the `train` rule's script.

Outside SLURM the job first locks GPUs of its own (paczero.devices) and sets
CUDA_VISIBLE_DEVICES, so it must not import torch before that.
"""

import logging
from pathlib import Path

from paczero.devices import DeviceError, assign_devices
from paczero.workflow_jobs import open_job_log, report_errors

# A resumed job appends to the log of the attempt it continues.
open_job_log(snakemake.log[0], append=True)  # noqa: F821 (snakemake is injected)
log = logging.getLogger("paczero.workflow")

recipe = dict(snakemake.params.recipe)  # noqa: F821
cell = recipe["cell"]
label = f"cell {cell}"
out_dir = Path(snakemake.output.metrics).parent  # noqa: F821

with report_errors(label, expected=(ValueError, DeviceError)):
    # The lease holds its device locks until this process exits.
    lease = assign_devices(int(snakemake.resources.get("gpu", 0)), label=label)  # noqa: F821

with report_errors(label):
    import torch

    from paczero.checkpoint import CheckpointError
    from paczero.journal import Preempted
    from paczero.train import TrainingDiverged, run_cell

# Failures caused by the input or the run's state, whose messages state the fix.
input_errors = (ValueError, FileNotFoundError, CheckpointError, Preempted, TrainingDiverged, torch.OutOfMemoryError)
with report_errors(label, expected=input_errors):
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    log.info("training cell %s into %s", cell, out_dir)
    run_cell(recipe, out_dir, checkpoint_every=snakemake.config.get("checkpoint_every"))  # noqa: F821
