# bowsflow: corpus -> vocabulary -> BOWS store -> models -> activations -> analyses -> report.
# Run: snakemake --cores 2   (a cluster: snakemake --workflow-profile profiles/slurm)
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# Reject bad config before any job runs; defaults are filled from the schema.
validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/bows.smk"


rule all:
    input:
        bows_targets(),
    default_target: True
    localrule: True
