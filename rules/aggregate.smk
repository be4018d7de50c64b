# Per table: the seeds of each row aggregated from the cells' metrics.json.


rule aggregate:
    input:
        metrics=metrics_for_table,
    output:
        f"{RESULTS}/aggregate/{{table}}.csv",
    log:
        "logs/aggregate/{table}.log",
    params:
        recipes=recipes_for_table,
        layout=layout_for_table,
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/aggregate_table.py"
