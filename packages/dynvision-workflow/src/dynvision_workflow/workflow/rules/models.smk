"""Models: initialise a model from its identity (or pretrained weights), train it, export its kept checkpoints."""


rule init_model:
    """Build a registered model from its name, arguments and seed, sized for the dataset, and save its state."""
    input:
        unpack(get_model_inputs),
    output:
        state=pattern_with(paths.MODEL_STATE, status="init"),
    log:
        paths.log_for(pattern_with(paths.MODEL_STATE, status="init")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.MODEL_STATE, status="init"))
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("init_model")
    resources:
        **resources_of("init_model"),
    params:
        dataset=pattern_with(paths.RAW_SPLIT, split="train"),
        options=get_init_options,
        pretrained=get_pretrained_options,
    shell:
        "dynvision init {params.options} {params.pretrained} --dataset {params.dataset:q} "
        "--output {output.state:q} >> {log:q} 2>&1"


rule train_model:
    """Train a model from its initial state with Lightning; resumes from its last checkpoint when interrupted."""
    input:
        unpack(get_training_data),
        init=pattern_with(paths.MODEL_STATE, status="init"),
    output:
        state=pattern_with(paths.MODEL_STATE, status="trained"),
    log:
        paths.log_for(pattern_with(paths.MODEL_STATE, status="trained")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.MODEL_STATE, status="trained"))
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("train_model")
    resources:
        **resources_of("train_model"),
    params:
        dataset=get_train_dataset,
        checkpoints=paths.CHECKPOINT_DIR,
        model=get_model_options,
        options=get_train_options,
        launcher=get_train_launcher,
    shell:
        "{params.launcher}dynvision train {params.model} --init {input.init:q} --dataset {params.dataset:q} "
        "--betons data/processed/{wildcards.data_name} --checkpoints {params.checkpoints:q} "
        "--output {output.state:q} {params.options} >> {log:q} 2>&1"


rule export_state:
    """Write the best (lowest val/loss) or a kept epoch's training checkpoint as a model state beside trained.pt."""
    input:
        trained=pattern_with(paths.MODEL_STATE, status="trained"),
    output:
        state=paths.MODEL_STATE,
    log:
        paths.log_for(paths.MODEL_STATE),
    benchmark:
        paths.benchmark_for(paths.MODEL_STATE)
    wildcard_constraints:
        status=EXPORTED_STATUSES,
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("export_state")
    resources:
        **resources_of("export_state"),
    params:
        checkpoints=paths.CHECKPOINT_DIR,
        model=get_model_options,
    shell:
        "dynvision export-state --trained {input.trained:q} --checkpoints {params.checkpoints:q} "
        "--status {wildcards.status:q} {params.model} --output {output.state:q} >> {log:q} 2>&1"
