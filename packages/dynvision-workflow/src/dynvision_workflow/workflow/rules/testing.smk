"""Testing: show the test images under an experiment's paradigm, record outputs and responses, tabulate them."""


rule test_model:
    """Test a model state under one paradigm: a tidy outputs table and per-area responses for every step."""
    input:
        state=paths.MODEL_STATE,
        images=pattern_with(paths.GROUP_SPLIT, split="test"),
    output:
        outputs=paths.TEST_OUTPUTS,
        responses=paths.TEST_RESPONSES,
    log:
        paths.log_for(paths.TEST_OUTPUTS),
    benchmark:
        paths.benchmark_for(paths.TEST_OUTPUTS)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("test_model")
    resources:
        **resources_of("test_model"),
    params:
        options=get_test_options,
    shell:
        "dynvision test {input.state:q} --dataset {input.images:q} --outputs {output.outputs:q} "
        "--responses {output.responses:q} {params.options} >> {log:q} 2>&1"


rule process_test:
    """Turn a test's recorded responses into a tidy table: one row per sample, step and area."""
    input:
        responses=paths.TEST_RESPONSES,
    output:
        table=paths.TEST_RESPONSES_TABLE,
    log:
        paths.log_for(paths.TEST_RESPONSES_TABLE),
    benchmark:
        paths.benchmark_for(paths.TEST_RESPONSES_TABLE)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("process_test")
    resources:
        **resources_of("process_test"),
    shell:
        "dynvision process-test {input.responses:q} --output {output.table:q} >> {log:q} 2>&1"


rule aggregate_experiment:
    """Join every test of one experiment into two tidy tables, with the paradigm's parameters as columns."""
    input:
        unpack(get_experiment_tests),
    output:
        outputs=paths.AGGREGATED_OUTPUTS,
        responses=paths.AGGREGATED_RESPONSES,
    log:
        paths.log_for(paths.AGGREGATED_OUTPUTS),
    benchmark:
        paths.benchmark_for(paths.AGGREGATED_OUTPUTS)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("aggregate_experiment")
    resources:
        **resources_of("aggregate_experiment"),
    params:
        spec_index=paths.TEST_SPEC_INDEX,
    shell:
        "dynvision aggregate --outputs {input.outputs:q} --responses {input.responses:q} "
        "--outputs-table {output.outputs:q} --responses-table {output.responses:q} "
        "--spec-index {params.spec_index:q} >> {log:q} 2>&1"
