# Figures: the summary figures ({results}/figures/<name>.pdf and .png) and one figure of
# training curves per cell ({results}/figures/runs/<cell>.pdf and .png). Each figure's
# inputs are exactly the metrics.json (and, for run curves, diagnostics.jsonl) it reads.
for figure_name in FIGURE_NAMES:

    rule:
        name:
            f"figure_{figure_name}"
        input:
            [f"{RESULTS}/runs/{cell}/metrics.json" for cell in FIGURE_CELLS[figure_name]],
        output:
            pdf=f"{RESULTS}/figures/{figure_name}.pdf",
            png=report(
                f"{RESULTS}/figures/{figure_name}.png",
                caption=f"../workflow/report/{figure_name}.rst",
                category="Figures",
                labels={"figure": figure_name},
            ),
        log:
            f"logs/figures/{figure_name}.log",
        params:
            figure=figure_name,
            **figure_params(figure_name),
        localrule: True
        conda:
            "../envs/paczero.yaml"
        script:
            "../workflow/scripts/make_figure.py"


rule run_figure:
    input:
        metrics=f"{RESULTS}/runs/{{cell}}/metrics.json",
        diagnostics=f"{RESULTS}/runs/{{cell}}/diagnostics.jsonl",
    output:
        pdf=f"{RESULTS}/figures/runs/{{cell}}.pdf",
        png=report(
            f"{RESULTS}/figures/runs/{{cell}}.png",
            caption="../workflow/report/run_curves.rst",
            category="Training curves",
            subcategory=first_table,
            labels={"cell": "{cell}"},
        ),
    log:
        "logs/figures/runs/{cell}.log",
    params:
        recipe=lambda wildcards: CELLS[wildcards.cell],
    localrule: True
    conda:
        "../envs/paczero.yaml"
    script:
        "../workflow/scripts/make_run_figure.py"
