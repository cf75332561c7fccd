# Stage: the sens metric (paper Eq. 1). One job per group of models that share evaluation sets
# (invariance transfer: a seed and an architecture; irrelevant features: a seed and a variant):
# results/sens/<group>/<model>.csv.


rule sens:
    input:
        models=sens_models,
        evalsets=sens_evalsets,
    output:
        directory("results/sens/{sensset}"),
    log:
        "logs/sens/{sensset}.log",
    benchmark:
        "benchmarks/sens/{sensset}.tsv"
    # the longest jobs (minutes each on a CPU) start as soon as they can
    priority: 20
    group:
        "sens"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(8000),
        runtime=scaled(5, per=n_sens_models),
    params:
        job=sens_params,
        sens=sens_settings,
        runtime=runtime_settings(),
    script:
        "../scripts/sens.py"
