"""The project's style rules: the workflow stays snakefmt-formatted and `snakemake --lint` clean; the
Python (library, scripts, tests, benchmarks) ruff-formatted and ruff-lint clean, imports sorted."""

import shutil
import subprocess
import sys

import pytest


def test_snakefmt_clean(repo_root):
    if shutil.which("snakefmt") is None:
        pytest.skip("snakefmt not installed (pip install -e .[test])")
    out = subprocess.run(["snakefmt", "--check", "Snakefile", "rules"], cwd=repo_root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow  # about 3 s: snakemake parses the whole workflow
def test_snakemake_lint_clean(repo_root):
    out = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=repo_root, capture_output=True, text=True)
    assert out.returncode == 0 and "Congratulations" in out.stdout + out.stderr, out.stdout + out.stderr


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_clean(repo_root, command):
    out = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=repo_root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
