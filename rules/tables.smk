# Per table: the reader's table as CSV, Markdown and LaTeX, one row per recipe.
# A draft under partial/ shows the cells finished so far and lists the others.


rule render_table:
    input:
        aggregate=f"{RESULTS}/aggregate/{{table}}.csv",
        paper_values=PAPER_VALUES,
    output:
        csv=f"{RESULTS}/{{table}}.csv",
        md=f"{RESULTS}/{{table}}.md",
        tex=f"{RESULTS}/{{table}}.tex",
    log:
        "logs/tables/{table}.log",
    params:
        layout=layout_for_table,
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/render_table.py"


# The draft needs no cell as input, so it never starts training. The list of
# finished metrics.json files (with their mtimes) is a param, and Snakemake
# reruns a job whose params changed, so each call picks up newly finished cells.
rule partial_table:
    input:
        cells=config["cells_file"],
        paper_values=PAPER_VALUES,
    output:
        csv=f"{RESULTS}/partial/{{table}}.csv",
        md=f"{RESULTS}/partial/{{table}}.md",
    log:
        "logs/partial/{table}.log",
    params:
        layout=layout_for_table,
        recipes=recipes_for_table,
        runs=f"{RESULTS}/runs",
        finished=finished_for_table,
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/partial_table.py"
