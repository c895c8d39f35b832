# bowsflow: corpus -> vocabulary -> BOWS store -> models -> activations -> analyses -> report.
# Run: snakemake --cores 2   (a cluster: snakemake --workflow-profile profiles/slurm)
import os
import sys

from snakemake.utils import min_version, validate

# Jobs import the library from this checkout (also inside --use-conda envs and on cluster nodes),
# so the workflow and the library it calls can never be of different versions.
BOWSFLOW_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, BOWSFLOW_SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (BOWSFLOW_SRC, os.getenv("PYTHONPATH")) if p)
)

from bowsflow.config import coerce_yaml_numbers

min_version("9.0")


# The default experiment, unless the user names their own with --configfile (which then replaces
# it rather than being merged into it: a user's corpora should not run beside ours).
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


# Numbers written like 1e-9 are strings to YAML 1.1 (PyYAML): read them as numbers where the schema
# wants one. Then reject bad config before any job runs; defaults are filled from the schema.
coerce_yaml_numbers(config)
validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/bows.smk"
include: "rules/train.smk"
include: "rules/extract.smk"
include: "rules/polytope.smk"
include: "rules/geometry.smk"
include: "rules/bilinear.smk"
include: "rules/interaction.smk"
include: "rules/summary.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        bows_targets(),
        model_targets(),
        comparison_targets(),
        activation_targets(),
        analysis_targets(),
        geometry_targets(),
        bilinear_targets(),
        interaction_targets(),
        summary_targets(),
    localrule: True
