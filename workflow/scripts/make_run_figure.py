"""Draw one cell's training curves with paczero.figures.make_run_figure; the `run_figure` rule's script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)
# fontTools logs every glyph subset of a PDF at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

from paczero.figures import make_run_figure  # noqa: E402

make_run_figure(
    snakemake.wildcards.cell,  # noqa: F821
    dict(snakemake.params.recipe),  # noqa: F821
    snakemake.config["results"],  # noqa: F821
    [snakemake.output.pdf, snakemake.output.png],  # noqa: F821
)
