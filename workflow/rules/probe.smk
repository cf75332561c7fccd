# Stage: penultimate features of a frozen model (cached once), then a linear probe on them.


rule features:
    input:
        model="results/models/{model}/model.pt",
        dataset="results/datasets/{dataset}",
    output:
        directory("results/features/{model}/{dataset}"),
    log:
        "logs/features/{model}/{dataset}.log",
    benchmark:
        "benchmarks/features/{model}/{dataset}.tsv"
    group:
        "probe"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(6000),
        runtime=scaled(30),
    params:
        runtime=runtime_settings(),
    script:
        "../scripts/features.py"


rule probe:
    input:
        features="results/features/{model}/{dataset}",
    output:
        metrics="results/probes/{model}/{dataset}/metrics.json",
    log:
        "logs/probe/{model}/{dataset}.log",
    benchmark:
        "benchmarks/probe/{model}/{dataset}.tsv"
    group:
        "probe"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(30),
    params:
        job=probe_job,
        runtime=runtime_settings(),
    script:
        "../scripts/probe.py"
