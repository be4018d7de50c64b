# Per PAC-MI or PAC-ZPL cell, on request (not part of `all`): rebuild the run's per-subset
# signs by recomputing its steps (as many forward passes as training, without evaluations),
# replay the release mechanism with fresh secret indices and attack it with the Bayes-optimal
# membership adversary. Writes audit/{cell}.csv (one row per budget) and audit/{cell}.png.

# Replays per budget, their seed, and the extra PAC-MI budgets (nats) audited on the same signs.
AUDIT_REPLAYS = 200
AUDIT_SEED = 0
AUDIT_BUDGETS = [0.05, 0.33, 0.68, 1.5]
AUDIT_CELLS = sorted(cell for cell, recipe in CELLS.items() if recipe["method"] in ("pacmi", "paczpl"))


rule audit:
    input:
        metrics=f"{RESULTS}/runs/{{cell}}/metrics.json",
        diagnostics=f"{RESULTS}/runs/{{cell}}/diagnostics.jsonl",
    output:
        csv=f"{RESULTS}/audit/{{cell}}.csv",
        figure=f"{RESULTS}/audit/{{cell}}.png",
    log:
        "logs/audit/{cell}.log",
    wildcard_constraints:
        cell="|".join(re.escape(cell) for cell in AUDIT_CELLS) or "(?!)",
    params:
        replays=AUDIT_REPLAYS,
        seed=AUDIT_SEED,
        budgets=AUDIT_BUDGETS,
    threads: resource_for_cell("threads")
    resources:
        gpu=resource_for_cell("gpu"),
        mem_mb=resource_for_cell("mem_mb"),
        runtime=resource_for_cell("runtime"),
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/audit_cell.py"
