# One job per cell: trains it and writes runs/{cell}/metrics.json (last) and diagnostics.jsonl.
# params holds exactly the training recipe, so only a recipe change reruns a cell.


rule train:
    output:
        metrics=f"{RESULTS}/runs/{{cell}}/metrics.json",
        diagnostics=f"{RESULTS}/runs/{{cell}}/diagnostics.jsonl",
    log:
        "logs/train/{cell}.log",
    params:
        recipe=recipe_for_cell,
    threads: resource_for_cell("threads")
    resources:
        gpu=resource_for_cell("gpu"),
        gpu_model=resource_for_cell("gpu_model"),
        cpus_per_gpu=resource_for_cell("cpus_per_gpu"),
        mem_mb=resource_for_cell("mem_mb"),
        disk_mb=resource_for_cell("disk_mb"),
        runtime=resource_for_cell("runtime"),
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/train_cell.py"
