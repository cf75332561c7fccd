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
    # long jobs first (pretraining and what it needs, sens): short ones fill the tail
    priority: 10
    conda:
        "../../envs/invtransfer.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=scaled(8000),
        runtime=scaled(240),
    params:
        job=model_params,
        runtime=runtime_settings(),
    script:
        "../scripts/pretrain.py"


# One job per (model, target dataset) runs every fine-tuning regime of the config (ft-low,
# ft-high), each into its own folder with its own resume checkpoint.
if FT_REGIMES:

    rule finetune:
        input:
            model="results/models/{model}/model.pt",
            probes="results/probes/{model}",
            dataset="results/datasets/{dataset}",
        output:
            metrics=expand(
                "results/finetune/{{model}}/{{dataset}}/{regime}/metrics.json",
                regime=FT_REGIMES,
            ),
        log:
            "logs/finetune/{model}/{dataset}.log",
        benchmark:
            "benchmarks/finetune/{model}/{dataset}.tsv"
        conda:
            "../../envs/invtransfer.yaml"
        threads: 2
        resources:
            gpu=1,
            mem_mb=scaled(8000),
            runtime=scaled(120 * len(FT_REGIMES)),
        params:
            job=finetune_params,
            runtime=runtime_settings(),
        script:
            "../scripts/finetune.py"
