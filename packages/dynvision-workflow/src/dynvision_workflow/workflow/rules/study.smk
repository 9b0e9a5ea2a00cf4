"""The temporal-dynamics study (dynvision_workflow.study): every variant x seed of the active scale, trained, tested
under the repetition, duration and contrast experiments, measured with bootstrap intervals and drawn beside the
human reference (dynvision-analysis study-table and plot-study)."""


rule study_table:
    """Measure the three phenomena of every variant, area and condition, with bootstrap confidence intervals over
    seeds and images, and their effect sizes."""
    input:
        get_study_tables,
    output:
        table=studies.STUDY_TABLE,
        effects=studies.EFFECTS_TABLE,
    log:
        paths.log_for(studies.STUDY_TABLE),
    benchmark:
        paths.benchmark_for(studies.STUDY_TABLE)
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("study_table")
    resources:
        **resources_of("study_table"),
    params:
        tables=get_study_table_options,
        n_boot=config["study"]["n_boot"],
    shell:
        "dynvision-analysis study-table {params.tables} --n-boot {params.n_boot} -o {output.table:q} "
        "--effects {output.effects:q} >> {log:q} 2>&1"


rule plot_study:
    """Draw the three phenomena of every variant in one area on normalised axes, beside the human reference."""
    input:
        table=studies.STUDY_TABLE,
    output:
        figure=report(
            studies.STUDY_FIGURE,
            caption="../report/study.rst",
            category="Study",
        ),
    log:
        paths.log_for(studies.STUDY_FIGURE),
    benchmark:
        paths.benchmark_for(studies.STUDY_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_study")
    resources:
        **resources_of("plot_study"),
    params:
        reference=config["study"]["reference"],
    shell:
        "dynvision-analysis plot-study {input.table:q} --area {wildcards.area:q} --reference {params.reference} "
        "-o {output.figure:q} >> {log:q} 2>&1"


rule plot_study_effects:
    """Draw every variant's effect sizes with their confidence intervals, per area: which variants show which
    phenomenon."""
    input:
        effects=studies.EFFECTS_TABLE,
    output:
        figure=report(
            studies.EFFECTS_FIGURE,
            caption="../report/study_effects.rst",
            category="Study",
        ),
    log:
        paths.log_for(studies.EFFECTS_FIGURE),
    benchmark:
        paths.benchmark_for(studies.EFFECTS_FIGURE)
    group:
        "plots"
    conda:
        "../envs/dynvision.yaml"
    threads: threads_of("plot_study_effects")
    resources:
        **resources_of("plot_study_effects"),
    shell:
        "dynvision-analysis plot-study-effects {input.effects:q} -o {output.figure:q} >> {log:q} 2>&1"
