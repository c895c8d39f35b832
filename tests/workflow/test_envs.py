"""Every rule names a conda environment that exists, and the environments pin what pyproject pins."""

import re
from pathlib import Path

import yaml


def test_rules_use_existing_envs_with_pyproject_pins(repo_root):
    repo = Path(repo_root)
    named = set()
    for smk in (repo / "rules").glob("*.smk"):
        named |= set(re.findall(r'"\.\./envs/([\w-]+\.yaml)"', smk.read_text()))
    assert named == {p.name for p in (repo / "envs").glob("*.yaml")}
    pyproject = (repo / "pyproject.toml").read_text()
    pins = {"zarr": ">=3,<4", "xarray": ">=2024.10", "numpy": ">=1.26"}
    for name in named:
        deps = [d for d in yaml.safe_load((repo / "envs" / name).read_text())["dependencies"] if isinstance(d, str)]
        for pkg, pin in pins.items():
            assert f"{pkg}{pin}" in deps, (name, pkg)
            assert f'"{pkg}{pin}"' in pyproject
        torch = [d for d in deps if d.startswith("pytorch")]
        assert torch == ["pytorch>=2.4,<3"] and '"torch>=2.4,<3"' in pyproject
