# bowsflow: corpus -> vocabulary -> BOWS store -> models -> activations -> analyses -> report.
# Run: snakemake --cores 2   (a cluster: snakemake --workflow-profile profiles/slurm)
import os
import sys

from snakemake.utils import min_version

# Jobs import the library from this checkout (also inside --use-conda envs and on cluster nodes),
# so the workflow and the library it calls can never be of different versions.
BOWSFLOW_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, BOWSFLOW_SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (BOWSFLOW_SRC, os.getenv("PYTHONPATH")) if p)
)

from bowsflow.config import ConfigError, read_config_file, validate_config

min_version("9.0")


# The default experiment, unless the user names their own with --configfile (which then replaces
# it rather than being merged into it: a user's corpora should not run beside ours).
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


# Reject bad config before any job runs, the library's way (the schema, defaults filled from it, then
# the checks a schema cannot express, each naming its key). Numbers written like 1e-9 are strings to
# YAML 1.1 (PyYAML): they are read as numbers where the schema wants one.
try:
    # each config file read strictly first: a key given twice is named with its lines (Snakemake's
    # loader keeps the last silently)
    for path in workflow.config_settings.configfiles or [
        os.path.join(workflow.basedir, "config.yaml")
    ]:
        read_config_file(path)
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


include: "rules/common.smk"
include: "rules/bows.smk"
include: "rules/train.smk"
include: "rules/extract.smk"
include: "rules/polytope.smk"
include: "rules/geometry.smk"
include: "rules/bilinear.smk"
include: "rules/interaction.smk"
include: "rules/llc.smk"
include: "rules/summary.smk"
include: "rules/claims.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        bows_targets(),
        model_targets(),
        comparison_targets(),
        activation_targets(),
        polytope_targets(),
        geometry_targets(),
        bilinear_targets(),
        interaction_targets(),
        llc_targets(),
        summary_targets(),
        claims_targets(),
    localrule: True
