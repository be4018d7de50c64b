"""Draw one summary figure with paczero.figures.make_figure; the `figure_<name>` rules' script."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)
# fontTools logs every glyph subset of a PDF at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

from paczero.figures import make_figure  # noqa: E402

make_figure(
    snakemake.params.figure,  # noqa: F821
    dict(snakemake.params.recipes),  # noqa: F821
    snakemake.config["results"],  # noqa: F821
    [snakemake.output.pdf, snakemake.output.png],  # noqa: F821
    groups=dict(snakemake.params.groups),  # noqa: F821
)
