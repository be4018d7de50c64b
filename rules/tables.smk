# Per table: the reader's table as CSV and Markdown, one row per table key.


rule render_table:
    input:
        f"{RESULTS}/aggregate/{{table}}.csv",
    output:
        csv=f"{RESULTS}/{{table}}.csv",
        md=f"{RESULTS}/{{table}}.md",
    log:
        "logs/tables/{table}.log",
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/render_table.py"
