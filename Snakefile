# Rebuilds the PACZero tables: every cell of config/cells.yaml is a target.
# `snakemake -n results/table1.csv` lists the cells that Table 1 still needs.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

# 9.14.8 validates the config (and sets schema defaults) inside cluster jobs too.
min_version("9.14.8")


configfile: "config/config.yaml"


# paczero's own check first: it names the key and the closest known one in one line,
# where a failed schema validation prints the whole schema.
from paczero.cells import CellsError, resolve_settings

try:
    resolve_settings(config)
except CellsError as error:
    raise WorkflowError(str(error)) from None

validate(config, "workflow/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/aggregate.smk"
include: "rules/tables.smk"
include: "rules/verify.smk"
include: "rules/audit.smk"
include: "rules/figure_common.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
include: "rules/status.smk"


rule all:
    input:
        all_table_files(),
        f"{RESULTS}/verify.csv",
        all_figure_files(),
        all_report_files(),
    default_target: True
