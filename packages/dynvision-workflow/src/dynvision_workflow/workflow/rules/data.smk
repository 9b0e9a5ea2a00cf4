"""Data: materialise a dataset as class folders, then write its FFCV files."""

from dynvision_workflow.runtime.data import repair_data_markers

# Data markers cannot lie: before Snakemake plans any job, a dataset marker, class group or FFCV record whose data
# no longer match it is removed (with a note), so that the data are made again before any job reads them. Only the
# main process checks: a cluster job reading the workflow again must not touch what the run in progress made.
if workflow.is_main_process:
    for _data_note in repair_data_markers():
        print(f"note: {_data_note}", file=sys.stderr)


rule get_data:
    """Materialise a dataset as class folders data/raw/{data_name}/{train,test}/{class}/*.png."""
    input:
        get_dataset_inputs,
    output:
        folder=directory(paths.RAW_DATASET),
        ready=paths.RAW_READY,
    log:
        paths.log_for(paths.RAW_READY),
    benchmark:
        paths.benchmark_for(paths.RAW_READY)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("get_data")
    resources:
        **resources_of("get_data"),
    params:
        options=get_data_options,
    shell:
        "dynvision prepare-data {wildcards.data_name} --root data/raw --ready {output.ready:q} "
        "{params.options} >> {log:q} 2>&1"


rule link_group:
    """Make a class group of a split: data/interim/{data_name}/{split}_{data_group}/, symlinks to its classes."""
    input:
        dataset=paths.RAW_DATASET,
    output:
        folder=directory(paths.GROUP_SPLIT),
    log:
        paths.log_for(paths.GROUP_SPLIT),
    benchmark:
        paths.benchmark_for(paths.GROUP_SPLIT)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("link_group")
    resources:
        **resources_of("link_group"),
    params:
        options=get_group_options,
    shell:
        "dynvision link-group {wildcards.data_name} --source {input.dataset:q} --output {output.folder:q} "
        "--split {wildcards.split} --group {wildcards.data_group} {params.options} >> {log:q} 2>&1"


rule build_betons:
    """Write train/val FFCV .beton files from the training class folders with a seeded split."""
    input:
        ready=paths.RAW_READY,
    output:
        train=paths.BETON_TRAIN,
        val=paths.BETON_VAL,
        meta=paths.BETON_META,
    log:
        paths.log_for(paths.BETON_META),
    benchmark:
        paths.benchmark_for(paths.BETON_META)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("build_betons")
    resources:
        **resources_of("build_betons"),
    params:
        source=pattern_with(paths.RAW_SPLIT, split="train"),
        options=get_beton_options,
    shell:
        "dynvision build-betons {params.source:q} --train {output.train:q} --val {output.val:q} "
        "--meta {output.meta:q} {params.options} >> {log:q} 2>&1"
