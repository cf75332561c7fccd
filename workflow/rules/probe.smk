# Stage: penultimate features of a frozen model (cached once), then a linear probe on them.
# One job of each per model, over every target dataset the plan probes that model on: the
# features land in results/features/<model>/<dataset>/, the probes in
# results/probes/<model>/<dataset>/{metrics.json,head.pt,history.csv}.


rule features:
    input:
        model="results/models/{model}/model.pt",
        datasets=features_datasets,
    output:
        directory("results/features/{model}"),
    log:
        "logs/features/{model}.log",
    benchmark:
        "benchmarks/features/{model}.tsv"
    group:
        "probe"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(6000),
        runtime=scaled(15, per=n_targets),
    params:
        runtime=runtime_settings(),
    script:
        "../scripts/features.py"


rule probe:
    input:
        features="results/features/{model}",
    output:
        directory("results/probes/{model}"),
    log:
        "logs/probe/{model}.log",
    benchmark:
        "benchmarks/probe/{model}.tsv"
    group:
        "probe"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(15, per=n_targets),
    params:
        job=probe_params,
        runtime=runtime_settings(),
    script:
        "../scripts/probe.py"
