# results/status.csv: every cell's state (done, stale, incomplete, failed, missing) and the
# estimated hours left (paczero.status). The rule has no inputs, because depending on
# metrics.json files would make Snakemake train the missing cells first. Its `snapshot`
# param changes whenever a run's files or job log change, so Snakemake rebuilds the file
# then and only then.
from paczero.status import run_files_snapshot


rule status:
    output:
        f"{RESULTS}/status.csv",
    log:
        "logs/status.log",
    params:
        recipes=CELLS,
        snapshot=lambda wildcards: run_files_snapshot(CELLS, RESULTS, "logs/train"),
    localrule: True
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/status.py"
