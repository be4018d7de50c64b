# Per cell: recompute the privacy ledger of a finished run (PAC-MI, PAC-ZPL, non-private)
# or check the DP accounting fields of a DP baseline; a failed check fails the job.
# verify.csv summarises every cell of the current preset.


rule verify:
    input:
        metrics=f"{RESULTS}/runs/{{cell}}/metrics.json",
        diagnostics=f"{RESULTS}/runs/{{cell}}/diagnostics.jsonl",
    output:
        f"{RESULTS}/verify/{{cell}}.txt",
    log:
        "logs/verify/{cell}.log",
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/verify_cell.py"


rule verify_summary:
    input:
        expand(f"{RESULTS}/verify/{{cell}}.txt", cell=sorted(CELLS)),
    output:
        f"{RESULTS}/verify.csv",
    log:
        "logs/verify/summary.log",
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/verify_summary.py"
