# Stage: tidy tables -> the paper's figures and tables, and the scorecard. Local rules: small
# jobs that run where Snakemake runs (see assets.smk).


rule collect:
    input:
        table_inputs,
    output:
        "results/tables/{table}.csv",
    log:
        "logs/collect/{table}.log",
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        records=table_records,
    script:
        "../scripts/collect.py"


# The four artifact rules: names, tables, settings and captions come from the registry
# (src/invtransfer/artifacts.py) through common.smk; a rule's params are only its artifact's
# settings and caption, so editing an unrelated config key never reruns a figure.


rule figure:
    input:
        tables=artifact_inputs,
    output:
        pdf=report(
            "figures/{artifact}.pdf",
            caption="../report/artifact.rst",
            category="Figures",
        ),
        png="figures/{artifact}.png",
    log:
        "logs/figure/{artifact}.log",
    wildcard_constraints:
        artifact=ARTIFACT_NAMES["figure"],
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        artifact="{artifact}",
        settings=artifact_params,
        caption=artifact_caption,
    script:
        "../scripts/artifact.py"


rule table:
    input:
        tables=artifact_inputs,
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
    wildcard_constraints:
        artifact=ARTIFACT_NAMES["table"],
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        artifact="{artifact}",
        settings=artifact_params,
        caption=artifact_caption,
    script:
        "../scripts/artifact.py"


rule scorecard:
    input:
        tables=artifact_inputs,
    output:
        md=report(
            "tables/scorecard.md", caption="../report/artifact.rst", category="Tables"
        ),
        csv="tables/scorecard.csv",
        claims="tables/scorecard_claims.csv",
    log:
        "logs/scorecard.log",
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        artifact="scorecard",
        settings=artifact_params,
        caption=artifact_caption,
    script:
        "../scripts/artifact.py"


rule example_figure:
    input:
        "results/assets/check.json",
    output:
        pdf=report(
            "figures/{artifact}.pdf", caption="../report/artifact.rst", category="Data"
        ),
        png="figures/{artifact}.png",
    log:
        "logs/figure/{artifact}.log",
    wildcard_constraints:
        artifact=ARTIFACT_NAMES["example"],
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        artifact="{artifact}",
        settings=artifact_params,
        caption=artifact_caption,
    script:
        "../scripts/artifact.py"
