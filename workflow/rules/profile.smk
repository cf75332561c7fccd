# Stage: invariance profiles of any models (config section `profile`, invtransfer.profile):
# one job per model (results/profile/<label>/), then one table and figure over all of them.


# results/tables/profile.csv is this rule's, not a tidy table of the plan's records
ruleorder: profile_summary > collect


# drawing one figure: runs where Snakemake runs, like the other report rules
localrules:
    profile_summary,


rule profile:
    input:
        profile_inputs,
    output:
        directory("results/profile/{label}"),
    log:
        "logs/profile/{label}.log",
    benchmark:
        "benchmarks/profile/{label}.tsv"
    wildcard_constraints:
        label=r"[A-Za-z0-9._+-]+",
    conda:
        "../../envs/invtransfer.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=scaled(4000),
    params:
        entry=profile_entry,
        settings=profile_settings,
        runtime=runtime_settings(),
    script:
        "../scripts/profile.py"


rule profile_summary:
    input:
        profile_folders,
    output:
        table="results/tables/profile.csv",
        curves="results/tables/profile_curves.csv",
        pdf=report(
            "figures/profile.pdf", caption="../report/profile.rst", category="Figures"
        ),
        png="figures/profile.png",
    log:
        "logs/report/profile.log",
    conda:
        "../../envs/invtransfer.yaml"
    script:
        "../scripts/profile_summary.py"
