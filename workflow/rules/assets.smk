# Stage: assets. The object/background bundle ships in the package (src/invtransfer/resources/);
# this rule checks it (SHA-256 of every file against its manifest.tsv) so that a corrupt or missing
# asset fails early, once. Both checks are local rules: tiny jobs that run where Snakemake runs
# (on a cluster: the login node, which also has the network access an optional CIFAR download
# needs). So are the tidy tables and figures (report.smk) and `all`; `localrule: True` rather than
# a `localrules:` list, so that the names stay right when the rules are imported with a prefix.


rule check_assets:
    output:
        "results/assets/check.json",
    log:
        "logs/check_assets.log",
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        objects=config["assets"]["objects"],
        backgrounds=config["assets"]["backgrounds"],
    script:
        "../scripts/check_assets.py"


rule check_cifar:
    output:
        "results/assets/{cifar}.json",
    log:
        "logs/check_cifar/{cifar}.log",
    localrule: True
    conda:
        "../../envs/invtransfer.yaml"
    params:
        root=config["assets"]["cifar"]["path"],
        download=config["assets"]["cifar"]["download"],
    script:
        "../scripts/check_cifar.py"
