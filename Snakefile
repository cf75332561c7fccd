# invtransfer: "Understanding the Role of Invariance in Transfer Learning" (TMLR 2024) as a workflow.
# Thin by design: configuration, validation, includes and the default target. All logic lives in
# the invtransfer package (src/invtransfer); rules only name inputs, outputs, params and resources.


from snakemake.utils import min_version

min_version("9.0")

# Integrity errors in jobs name the one command that rebuilds a broken file, with this run's
# options (--profile, --configfile, ...): the main process records them for its jobs.
if workflow.is_main_process:
    from invtransfer.recovery import announce_run_options

    announce_run_options()


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# The configuration is composed, filled from the schema's defaults (src/invtransfer/
# config.schema.yaml) and validated once in common.smk, with messages naming the key.
include: "workflow/rules/common.smk"
include: "workflow/rules/assets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/profile.smk"


rule all:
    default_target: True
    input:
        final_targets(),
    localrule: True
