# Stage: the sens metric (paper Eq. 1) of one model on its evaluation sets.


rule sens:
    input:
        model="results/models/{model}/model.pt",
        evalsets=sens_evalsets,
    output:
        "results/sens/{model}/{sensset}.csv",
    log:
        "logs/sens/{model}/{sensset}.log",
    benchmark:
        "benchmarks/sens/{model}/{sensset}.tsv"
    group:
        "sens"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(8000),
        runtime=scaled(60),
    params:
        job=sens_job,
        sens=config["sens"],
        runtime=runtime_settings(),
    script:
        "../scripts/sens.py"
