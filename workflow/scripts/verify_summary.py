"""Collect the per-cell verification reports into verify.csv; the `verify_summary` rule's script."""

import logging
import sys
from pathlib import Path

log_file = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.stderr = log_file
logging.basicConfig(stream=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)

import pandas as pd  # noqa: E402

from paczero.privacy.ledger import parse_report  # noqa: E402

rows = []
for path in map(Path, snakemake.input):  # noqa: F821
    rows.append({"cell": path.stem, **parse_report(path.read_text(encoding="utf-8"))})
table = pd.DataFrame(rows)
table.to_csv(snakemake.output[0], index=False)  # noqa: F821
counts = table["status"].value_counts().to_dict()
logging.getLogger("paczero.workflow").info("verified %d cells: %s", len(table), counts)
