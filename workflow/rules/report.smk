# Stage: tidy tables -> the paper's figures and tables, and the scorecard.


rule collect:
    input:
        table_inputs,
    output:
        "results/tables/{table}.csv",
    log:
        "logs/collect/{table}.log",
    conda:
        "../../envs/invtransfer.yaml"
    params:
        records=table_records,
    script:
        "../scripts/collect.py"


rule figure:
    input:
        artifact_inputs,
    output:
        pdf=report(
            "figures/{artifact}.pdf",
            caption="../report/artifact.rst",
            category="Figures",
        ),
        png="figures/{artifact}.png",
    log:
        "logs/figure/{artifact}.log",
    conda:
        "../../envs/invtransfer.yaml"
    params:
        notes=artifact_notes,
        config=config,
    script:
        "../scripts/figure.py"


rule table:
    input:
        artifact_inputs,
    output:
        md=report(
            "tables/{artifact}.md",
            caption="../report/artifact.rst",
            category="Tables",
        ),
        tex="tables/{artifact}.tex",
        csv="tables/{artifact}.csv",
    log:
        "logs/table/{artifact}.log",
    conda:
        "../../envs/invtransfer.yaml"
    params:
        notes=artifact_notes,
        config=config,
    script:
        "../scripts/table.py"


rule scorecard:
    input:
        scorecard_inputs,
    output:
        md=report(
            "tables/scorecard.md", caption="../report/artifact.rst", category="Tables"
        ),
        csv="tables/scorecard.csv",
    log:
        "logs/scorecard.log",
    conda:
        "../../envs/invtransfer.yaml"
    params:
        notes=artifact_notes,
        config=config,
    script:
        "../scripts/scorecard.py"


rule example_figure:
    input:
        "results/assets/check.json",
    output:
        pdf=report(
            "figures/{example}.pdf", caption="../report/artifact.rst", category="Data"
        ),
        png="figures/{example}.png",
    log:
        "logs/figure/{example}.log",
    conda:
        "../../envs/invtransfer.yaml"
    params:
        panels=example_panels,
    script:
        "../scripts/example_figure.py"
