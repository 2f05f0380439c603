"""The shape of the code: import direction, cheap imports, documented settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["retrieval", "ingest", "ingest.pipeline", "retrieval.search", "api.settings"])
def test_importing_a_package_does_not_import_torch(package: str) -> None:
    code = (
        f"import sys, {package}; heavy = [m for m in ('torch', 'transformers', 'qdrant_client', 'qdrant_edge', "
        f"'sentence_transformers') if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"import {package} pulled in {proc.stdout.strip()}"


def test_import_linter_contract_holds() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout


def test_env_example_documents_every_setting() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    documented = {ln.split("=", 1)[0].lstrip("# ").strip() for ln in lines if "=" in ln and "MOMENTS_" in ln}
    expected = {f"MOMENTS_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`MOMENTS_{n.upper()}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme
