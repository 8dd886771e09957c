"""Every Terraform file parses, is formatted, and follows the module layout conventions."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
ENVS_DIR = TERRAFORM_DIR / "envs"

TF_FILES = sorted(TERRAFORM_DIR.rglob("*.tf")) + sorted(TERRAFORM_DIR.rglob("*.tfvars"))
MODULE_DIRS = sorted(path for path in MODULES_DIR.iterdir() if path.is_dir())
REQUIRED_MODULES = {
    "network",
    "question_set_store",
    "cache",
    "queue",
    "run_store",
    "loader",
    "reporter",
    "signon",
    "speedrun",
    "api",
    "web",
    "secrets",
    "ecr",
    "ecs_cluster",
}


@pytest.mark.parametrize("path", TF_FILES, ids=lambda path: str(path.relative_to(TERRAFORM_DIR)))
def test_parse_succeeds_for_terraform_file(path: Path, parse_tf: Callable[[Path], Any]) -> None:
    assert isinstance(parse_tf(path), dict)


def test_terraform_files_exist() -> None:
    assert len(TF_FILES) > 50


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_fmt_check_passes_for_terraform_dir() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_modules_exist_for_every_component() -> None:
    assert {path.name for path in MODULE_DIRS} >= REQUIRED_MODULES


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=lambda path: path.name)
def test_module_has_standard_files(module_dir: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module_dir / name).is_file(), f"{module_dir.name}/{name} is missing"


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=lambda path: path.name)
def test_module_variables_are_typed_and_described(
    module_dir: Path, parse_tf: Callable[[Path], Any]
) -> None:
    variables = parse_tf(module_dir / "variables.tf").get("variable", [])
    for block in variables:
        for name, body in block.items():
            assert body.get("type"), f"{module_dir.name}: variable {name} has no type"
            assert body.get("description"), f"{module_dir.name}: variable {name} has no description"


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=lambda path: path.name)
def test_module_outputs_are_described(module_dir: Path, parse_tf: Callable[[Path], Any]) -> None:
    outputs = parse_tf(module_dir / "outputs.tf").get("output", [])
    assert outputs, f"{module_dir.name} has no outputs"
    for block in outputs:
        for name, body in block.items():
            assert body.get("description"), f"{module_dir.name}: output {name} has no description"


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=lambda path: path.name)
def test_module_readme_lists_every_input_and_output(
    module_dir: Path, parse_tf: Callable[[Path], Any]
) -> None:
    readme = (module_dir / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z0-9_*]+)`", readme))
    # A row may group inputs by prefix, e.g. `efs_*`.
    prefixes = tuple(name[:-1] for name in documented if name.endswith("*"))
    names = [
        name
        for kind, filename in (("variable", "variables.tf"), ("output", "outputs.tf"))
        for block in parse_tf(module_dir / filename).get(kind, [])
        for name in block
    ]
    missing = [name for name in names if name not in documented and not name.startswith(prefixes)]
    assert not missing, f"{module_dir.name}/README.md does not mention {missing}"


def test_tfvars_and_backends_only_in_envs(parse_tf: Callable[[Path], Any]) -> None:
    for path in MODULES_DIR.rglob("*"):
        assert path.suffix != ".tfvars", f"{path} is outside envs/"
        if path.suffix == ".tf":
            terraform_blocks = parse_tf(path).get("terraform", [])
            for block in terraform_blocks:
                assert "backend" not in block, f"{path} declares a backend"
    for env_dir in sorted(path for path in ENVS_DIR.iterdir() if path.is_dir()):
        backends = [
            block["backend"]
            for block in parse_tf(env_dir / "versions.tf").get("terraform", [])
            if "backend" in block
        ]
        assert backends, f"{env_dir.name} has no backend"
        s3 = backends[0][0]["s3"]
        assert s3.get("dynamodb_table"), (
            f"{env_dir.name}: the S3 backend has no DynamoDB lock table"
        )
        assert s3.get("encrypt") is True, f"{env_dir.name}: the S3 backend does not encrypt"
        assert env_dir.name in s3["key"], f"{env_dir.name}: state key {s3['key']} is not per env"


def _top_level_blocks(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """Yield (line number, header, body lines) of every resource/data/module block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if re.match(r"^(resource|data|module)\s", lines[index]):
            start = index
            depth = lines[index].count("{") - lines[index].count("}")
            index += 1
            body = []
            while depth > 0 and index < len(lines):
                body.append(lines[index])
                depth += lines[index].count("{") - lines[index].count("}")
                index += 1
            yield start + 1, lines[start].strip(), body
        else:
            index += 1


def _argument_names(body: list[str]) -> list[str]:
    """Names of the block's own arguments and nested blocks, in order (not those of sub-blocks)."""
    depth = 0
    names = []
    for line in body:
        stripped = line.strip()
        if depth == 0 and stripped and not stripped.startswith("#"):
            match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(=|\{|\")", stripped)
            if match:
                names.append(match.group(1))
        for opening, closing in ("{}", "[]", "()"):
            depth += line.count(opening) - line.count(closing)
    return names


@pytest.mark.parametrize(
    "path", sorted(TERRAFORM_DIR.rglob("*.tf")), ids=lambda p: str(p.relative_to(TERRAFORM_DIR))
)
def test_block_layout_puts_count_first_and_tags_last(path: Path) -> None:
    problems = []
    for line, header, body in _top_level_blocks(path.read_text(encoding="utf-8")):
        names = _argument_names(body)
        leading = [name for name in names if name not in ("provider", "source")]
        for meta in ("count", "for_each"):
            if meta in names and leading[0] != meta:
                problems.append(f"{line} {header}: {meta} is not the first argument")
        if "tags" in names:
            after = names[names.index("tags") + 1 :]
            if any(name not in ("depends_on", "lifecycle") for name in after):
                problems.append(f"{line} {header}: tags is followed by {after}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("filename", ["main.tf", "variables.tf", "outputs.tf"])
def test_environments_share_one_composition(filename: str) -> None:
    # dev and prod differ only in terraform.tfvars and their state key (versions.tf).
    texts = {
        path.name: (path / filename).read_text(encoding="utf-8") for path in ENVS_DIR.iterdir()
    }
    assert len(set(texts.values())) == 1, f"{filename} differs between {sorted(texts)}"
