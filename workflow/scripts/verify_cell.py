"""Verify one finished cell's privacy ledger; the `verify` rule's script."""

import logging
import sys
from pathlib import Path

log_file = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.stderr = log_file
logging.basicConfig(stream=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)

from paczero.io import atomic_write_text  # noqa: E402
from paczero.privacy.ledger import verify_run  # noqa: E402

run_dir = Path(snakemake.input.metrics).parent  # noqa: F821
result = verify_run(run_dir)
report = result.to_report()
log_file.write(report)
if not result.ok:
    raise SystemExit(f"privacy ledger verification failed: {result.summary_line()}")
atomic_write_text(Path(snakemake.output[0]), report)  # noqa: F821
