"""Analysis: figures from the experiments' tidy tables (dynvision-analysis, no torch)."""


rule plot_responses:
    """Plot each area's mean response over time (ms) with the stimulus period shaded."""
    input:
        table=paths.AGGREGATED_RESPONSES,
    output:
        figure=report(
            pattern_with(paths.FIGURE, figure="responses"),
            caption="../report/responses.rst",
            category="Responses",
        ),
    log:
        paths.log_for(pattern_with(paths.FIGURE, figure="responses")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.FIGURE, figure="responses"))
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: 1
    resources:
        disk_mb=1000,
        mem_mb=2000,
        runtime=10,
    shell:
        "dynvision-analysis plot-responses {input.table:q} -o {output.figure:q} > {log:q} 2>&1"


rule plot_accuracy:
    """Plot classification accuracy over time (ms) with chance level and the stimulus period shaded."""
    input:
        table=paths.AGGREGATED_OUTPUTS,
    output:
        figure=report(
            pattern_with(paths.FIGURE, figure="accuracy"),
            caption="../report/accuracy.rst",
            category="Accuracy",
        ),
    log:
        paths.log_for(pattern_with(paths.FIGURE, figure="accuracy")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.FIGURE, figure="accuracy"))
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: 1
    resources:
        disk_mb=1000,
        mem_mb=2000,
        runtime=10,
    shell:
        "dynvision-analysis plot-accuracy {input.table:q} -o {output.figure:q} > {log:q} 2>&1"
