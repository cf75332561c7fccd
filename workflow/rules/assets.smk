# Stage: assets. The object/background bundle ships in resources/; this rule checks it (SHA-256 of
# every file against resources/manifest.tsv) so that a corrupt or missing asset fails early, once.


rule check_assets:
    output:
        "results/assets/check.json",
    log:
        "logs/check_assets.log",
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
    conda:
        "../../envs/invtransfer.yaml"
    params:
        root=config["assets"]["cifar"]["path"],
        download=config["assets"]["cifar"]["download"],
    script:
        "../scripts/check_cifar.py"
