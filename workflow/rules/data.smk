# Stage: datasets. One folder per dataset: NPY shards + samples.parquet + manifest.json + preview.png.


rule materialize:
    input:
        "results/assets/check.json",
    output:
        directory("results/datasets/{dataset}"),
    params:
        spec=dataset_spec,
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    log:
        "logs/materialize/{dataset}.log",
    benchmark:
        "benchmarks/materialize/{dataset}.tsv"
    group:
        "data"
    conda:
        "../../envs/invtransfer.yaml"
    script:
        "../scripts/materialize.py"


rule evalset:
    input:
        "results/assets/check.json",
    output:
        directory("results/evalsets/{evalset}"),
    params:
        members=evalset_members,
    threads: 2
    resources:
        mem_mb=3000,
        runtime=120,
    log:
        "logs/evalset/{evalset}.log",
    benchmark:
        "benchmarks/evalset/{evalset}.tsv"
    group:
        "data"
    conda:
        "../../envs/invtransfer.yaml"
    script:
        "../scripts/evalset.py"
