"""Analysis: figures from the experiments' tidy tables, training logs and model weights (dynvision-analysis)."""

# Per experiment ------------------------------------------------------------------------------------------------


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
    threads: threads_of("plot_responses")
    resources:
        **resources_of("plot_responses"),
    params:
        options=get_responses_options,
    shell:
        "dynvision-analysis plot-responses {input.table:q} {params.options} -o {output.figure:q} >> {log:q} 2>&1"


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
    threads: threads_of("plot_accuracy")
    resources:
        **resources_of("plot_accuracy"),
    params:
        options=get_accuracy_options,
    shell:
        "dynvision-analysis plot-accuracy {input.table:q} {params.options} -o {output.figure:q} >> {log:q} 2>&1"


rule plot_confusion:
    """Plot the confusion matrix (true label x guess) of an experiment, pooled over its steps with a stimulus."""
    input:
        table=paths.AGGREGATED_OUTPUTS,
    output:
        figure=report(
            pattern_with(paths.FIGURE, figure="confusion"),
            caption="../report/confusion.rst",
            category="Confusion",
        ),
    log:
        paths.log_for(pattern_with(paths.FIGURE, figure="confusion")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.FIGURE, figure="confusion"))
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_confusion")
    resources:
        **resources_of("plot_confusion"),
    shell:
        "dynvision-analysis plot-confusion {input.table:q} --where stimulus=1 -o {output.figure:q} >> {log:q} 2>&1"


rule plot_reaction_times:
    """Plot an experiment's speed-accuracy trade-off over confidence thresholds and its accuracy per reaction-time
    bin at the test's threshold, one line per condition."""
    input:
        table=paths.AGGREGATED_OUTPUTS,
    output:
        figure=report(
            pattern_with(paths.FIGURE, figure="reactiontimes"),
            caption="../report/reaction_times.rst",
            category="Reaction times",
        ),
    log:
        paths.log_for(pattern_with(paths.FIGURE, figure="reactiontimes")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.FIGURE, figure="reactiontimes"))
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_reaction_times")
    resources:
        **resources_of("plot_reaction_times"),
    params:
        options=get_reaction_times_options,
    shell:
        "dynvision-analysis plot-reaction-times {input.table:q} {params.options} -o {output.figure:q} >> {log:q} 2>&1"


rule combine_performance:
    """Stack an experiment's outputs table with its feedforward-only variant's (column `connections`)."""
    input:
        unpack(get_performance_tables),
    output:
        table=analysis_targets.PERFORMANCE_TABLE,
    log:
        paths.log_for(analysis_targets.PERFORMANCE_TABLE),
    benchmark:
        paths.benchmark_for(analysis_targets.PERFORMANCE_TABLE)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("combine_performance")
    resources:
        **resources_of("combine_performance"),
    params:
        tables=get_performance_combine_options,
    shell:
        "python -m dynvision_workflow.runtime.combine --column connections {params.tables} "
        "--output {output.table:q} >> {log:q} 2>&1"


rule plot_performance:
    """Plot peak accuracy against an experiment's swept parameter, with and without recurrence."""
    input:
        table=analysis_targets.PERFORMANCE_TABLE,
    output:
        figure=report(
            pattern_with(paths.FIGURE, figure="performance"),
            caption="../report/performance.rst",
            category="Performance",
        ),
    log:
        paths.log_for(pattern_with(paths.FIGURE, figure="performance")),
    benchmark:
        paths.benchmark_for(pattern_with(paths.FIGURE, figure="performance"))
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_performance")
    resources:
        **resources_of("plot_performance"),
    params:
        options=get_performance_options,
    shell:
        "dynvision-analysis plot-performance {input.table:q} {params.options} -o {output.figure:q} >> {log:q} 2>&1"


# Across experiments -----------------------------------------------------------------------------------------------


rule plot_dynamics:
    """Plot temporal summation (duration), latency (contrast) and recovery (interval) of one model state."""
    input:
        unpack(get_dynamics_tables),
    output:
        figure=report(
            analysis_targets.DYNAMICS_FIGURE,
            caption="../report/dynamics.rst",
            category="Dynamics",
        ),
    log:
        paths.log_for(analysis_targets.DYNAMICS_FIGURE),
    benchmark:
        paths.benchmark_for(analysis_targets.DYNAMICS_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_dynamics")
    resources:
        **resources_of("plot_dynamics"),
    params:
        tables=get_dynamics_options,
    shell:
        "dynvision-analysis plot-dynamics {params.tables} -o {output.figure:q} >> {log:q} 2>&1"


# Per model --------------------------------------------------------------------------------------------------------


rule plot_training:
    """Plot a trained model's training curves (loss, accuracy per epoch) from its Lightning CSV log."""
    input:
        state=pattern_with(paths.MODEL_STATE, status="trained"),
    output:
        figure=report(
            analysis_targets.TRAINING_FIGURE,
            caption="../report/training.rst",
            category="Training",
        ),
    log:
        paths.log_for(analysis_targets.TRAINING_FIGURE),
    benchmark:
        paths.benchmark_for(analysis_targets.TRAINING_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_training")
    resources:
        **resources_of("plot_training"),
    params:
        # Written by `dynvision train` beside the checkpoints; the trained state is its completion marker.
        metrics=analysis_targets.TRAINING_METRICS,
    shell:
        "dynvision-analysis plot-training {params.metrics:q} -o {output.figure:q} >> {log:q} 2>&1"


rule write_weights_table:
    """Write a model state's connection weights as a tidy table: connection type, area, parameter, value."""
    input:
        state=paths.MODEL_STATE,
    output:
        table=analysis_targets.WEIGHTS_TABLE,
    log:
        paths.log_for(analysis_targets.WEIGHTS_TABLE),
    benchmark:
        paths.benchmark_for(analysis_targets.WEIGHTS_TABLE)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("write_weights_table")
    resources:
        **resources_of("write_weights_table"),
    shell:
        "python -m dynvision_workflow.runtime.weights {input.state:q} --output {output.table:q} >> {log:q} 2>&1"


rule plot_weights:
    """Plot a model state's weight distributions by connection type, one panel per area."""
    input:
        table=analysis_targets.WEIGHTS_TABLE,
    output:
        figure=report(
            analysis_targets.WEIGHTS_FIGURE,
            caption="../report/weights.rst",
            category="Weights",
        ),
    log:
        paths.log_for(analysis_targets.WEIGHTS_FIGURE),
    benchmark:
        paths.benchmark_for(analysis_targets.WEIGHTS_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_weights")
    resources:
        **resources_of("plot_weights"),
    shell:
        "dynvision-analysis plot-weights {input.table:q} -o {output.figure:q} >> {log:q} 2>&1"


rule write_stability_table:
    """Write the leading eigenvalues of a model state's linearised recurrent step, per area, after a blank and after
    a few test images (models on the temporal engine)."""
    input:
        state=paths.MODEL_STATE,
        images=pattern_with(paths.GROUP_SPLIT, split="test"),
    output:
        table=analysis_targets.STABILITY_TABLE,
    log:
        paths.log_for(analysis_targets.STABILITY_TABLE),
    benchmark:
        paths.benchmark_for(analysis_targets.STABILITY_TABLE)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("write_stability_table")
    resources:
        **resources_of("write_stability_table"),
    params:
        options=get_stability_options,
    shell:
        "python -m dynvision_workflow.runtime.stability {input.state:q} --dataset {input.images:q} "
        "--output {output.table:q} {params.options} >> {log:q} 2>&1"


rule plot_stability:
    """Plot a model state's leading eigenvalues in the complex plane with the unit circle, one panel per area."""
    input:
        table=analysis_targets.STABILITY_TABLE,
    output:
        figure=report(
            analysis_targets.STABILITY_FIGURE,
            caption="../report/stability.rst",
            category="Stability",
        ),
    log:
        paths.log_for(analysis_targets.STABILITY_FIGURE),
    benchmark:
        paths.benchmark_for(analysis_targets.STABILITY_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_stability")
    resources:
        **resources_of("plot_stability"),
    shell:
        "dynvision-analysis plot-stability {input.table:q} -o {output.figure:q} >> {log:q} 2>&1"
