"""Testing: show the test images under an experiment's paradigm, record outputs and responses, tabulate them.

An experiment is tested in one job (test_experiment); test_model and process_test make one test's files when
they alone are asked for."""


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


rule test_experiment:
    """Test a model state under every condition of an experiment in one pass over the test images (model loaded
    and images decoded once; conditions already tested with the same parameters are kept), writing each test's
    files and the experiment's two tidy tables, with the paradigm's parameters as columns.
    """
    input:
        state=paths.MODEL_STATE,
        images=pattern_with(paths.GROUP_SPLIT, split="test"),
    output:
        outputs=paths.AGGREGATED_OUTPUTS,
        responses=paths.AGGREGATED_RESPONSES,
    log:
        paths.log_for(paths.AGGREGATED_OUTPUTS),
    benchmark:
        paths.benchmark_for(paths.AGGREGATED_OUTPUTS)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("test_experiment")
    resources:
        **resources_of("test_experiment"),
    params:
        options=get_experiment_test_options,
    shell:
        "dynvision test-experiment {input.state:q} --dataset {input.images:q} "
        "--outputs-table {output.outputs:q} --responses-table {output.responses:q} {params.options} "
        ">> {log:q} 2>&1"
