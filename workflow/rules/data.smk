# Stage: datasets. One folder per dataset: NPY shards + samples.parquet + manifest.json + preview.png.


rule materialize:
    input:
        dataset_checks,
    output:
        directory("results/datasets/{dataset}"),
    log:
        "logs/materialize/{dataset}.log",
    benchmark:
        "benchmarks/materialize/{dataset}.tsv"
    # long jobs first (pretraining and what it needs, sens): short ones fill the tail
    priority: 10
    group:
        "data"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        mem_mb=scaled(3000),
        runtime=scaled(60),
    params:
        spec=dataset_spec,
    script:
        "../scripts/materialize.py"


rule evalset:
    input:
        evalset_checks,
    output:
        directory("results/evalsets/{evalset}"),
    log:
        "logs/evalset/{evalset}.log",
    benchmark:
        "benchmarks/evalset/{evalset}.tsv"
    # long jobs first (pretraining and what it needs, sens): short ones fill the tail
    priority: 10
    group:
        "data"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        mem_mb=scaled(3000),
        runtime=scaled(120),
    params:
        members=evalset_members,
    script:
        "../scripts/evalset.py"
