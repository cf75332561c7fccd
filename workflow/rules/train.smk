# Stage: pretraining (resumable; best-validation checkpoint kept) and full fine-tuning.


rule pretrain:
    input:
        dataset=model_dataset,
    output:
        model="results/models/{model}/model.pt",
        metrics="results/models/{model}/metrics.json",
        history="results/models/{model}/history.csv",
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "benchmarks/pretrain/{model}.tsv"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(8000),
        runtime=scaled(240),
    params:
        job=model_job,
        runtime=runtime_settings(),
    script:
        "../scripts/pretrain.py"


rule finetune:
    input:
        model="results/models/{model}/model.pt",
        probe="results/probes/{model}/{dataset}/metrics.json",
        dataset="results/datasets/{dataset}",
    output:
        metrics="results/finetune/{model}/{dataset}/{regime}/metrics.json",
    log:
        "logs/finetune/{model}/{dataset}/{regime}.log",
    benchmark:
        "benchmarks/finetune/{model}/{dataset}/{regime}.tsv"
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(8000),
        runtime=scaled(120),
    params:
        job=finetune_job,
        runtime=runtime_settings(),
    script:
        "../scripts/finetune.py"
