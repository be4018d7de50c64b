# The HTML report: `snakemake --report report.html` collects every output marked with
# report(): the tables (rendered here as HTML pages), the summary figures and the training
# curves (rules/figures.smk), each with its caption from workflow/report/.


report: "../workflow/report/workflow.rst"


rule report_table:
    input:
        f"{RESULTS}/{{table}}.csv",
    output:
        report(
            f"{RESULTS}/report/tables/{{table}}.html",
            caption="../workflow/report/table.rst",
            category="Tables",
            subcategory=table_kind,
            labels={"table": "{table}"},
        ),
    log:
        "logs/report/{table}.log",
    localrule: True
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/report_table.py"
