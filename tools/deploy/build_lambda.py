#!/usr/bin/env python3
"""Build the Lambda deployment zips: build/lambda/<name>.zip for the loader and the reporter.

For each function:

1. ``uv export --package <member> --no-dev --no-hashes --frozen`` gives the locked closure of the
   member's third-party dependencies (workspace members appear as ``-e ./path`` lines);
2. ``pip install --platform manylinux2014_x86_64 --python-version 3.12 --only-binary=:all:
   --no-deps --target <stage>`` installs exactly those pins as Linux x86_64 wheels for the Lambda
   runtime (python3.12, x86_64), whatever machine builds;
3. the source packages of the workspace members it depends on (``<member>/src/<package>``) are
   copied next to them;
4. the stage is zipped deterministically (sorted entries, fixed timestamps), so an unchanged
   build has an unchanged ``source_code_hash`` and Terraform does not redeploy it.

Usage: ``python3 tools/deploy/build_lambda.py [--out build/lambda] [loader reporter]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = {"loader": "speedrun-loader", "reporter": "speedrun-reporter"}
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_DIRS = {"__pycache__", "tests", ".pytest_cache", ".mypy_cache"}


class BuildError(Exception):
    """A tool is missing or a build step failed."""


def find_uv() -> str:
    """Return the uv executable: on PATH, or the one ``make bootstrap`` put in .tools/."""
    for candidate in (shutil.which("uv"), REPO_ROOT / ".tools" / "bin" / "uv"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise BuildError("uv not found: install it (pip install uv) or run `make bootstrap`")


def pip_command() -> list[str]:
    """Return a pip invocation: this interpreter's pip, else pip3 on PATH."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    if shutil.which("pip3"):
        return ["pip3"]
    raise BuildError("pip not found: run this script with a Python that has pip (python3 -m pip)")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, raising BuildError with its output when it fails."""
    result: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        command, capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result


def export_requirements(uv: str, member: str) -> tuple[list[str], list[Path]]:
    """Return (third-party requirement lines, workspace member directories) of a member."""
    exported = run(
        [uv, "export", "--package", member, "--no-dev", "--no-hashes", "--frozen"], cwd=REPO_ROOT
    ).stdout
    requirements: list[str] = []
    members: list[Path] = []
    for raw in exported.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-e "):
            line = line[3:].strip()
        if line.startswith(("./", "../", "/")):
            members.append((REPO_ROOT / line).resolve())
        else:
            requirements.append(line)
    if not members:
        raise BuildError(f"uv export listed no workspace member for {member}")
    return requirements, members


def install_requirements(requirements: list[str], stage: Path, workdir: Path) -> None:
    """pip-install the pinned wheels for the Lambda platform into ``stage``."""
    if not requirements:
        return
    requirements_file = workdir / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    run(
        [
            *pip_command(),
            "install",
            "--disable-pip-version-check",
            "--no-compile",
            "--no-deps",  # uv export already lists the whole locked closure
            "--platform",
            PLATFORM,
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "--target",
            str(stage),
            "--requirement",
            str(requirements_file),
        ]
    )


def copy_member_sources(members: list[Path], stage: Path) -> list[str]:
    """Copy every import package under each member's src/ into ``stage``; return their names."""
    copied: list[str] = []
    for member in members:
        source_root = member / "src"
        packages = sorted(p for p in source_root.iterdir() if (p / "__init__.py").is_file())
        if not packages:
            raise BuildError(f"{member} has no package under src/")
        for package in packages:
            shutil.copytree(
                package,
                stage / package.name,
                ignore=shutil.ignore_patterns(*SKIPPED_DIRS, "*.pyc"),
                dirs_exist_ok=False,
            )
            copied.append(package.name)
    return copied


def write_zip(stage: Path, target: Path) -> None:
    """Zip ``stage`` deterministically into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(
        partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as archive:
        for path in sorted(stage.rglob("*")):
            relative = path.relative_to(stage)
            if path.is_dir() or SKIPPED_DIRS & set(relative.parts) or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)


def build(name: str, out_dir: Path, uv: str) -> Path:
    """Build one function's zip and return its path."""
    member = LAMBDAS[name]
    requirements, members = export_requirements(uv, member)
    with tempfile.TemporaryDirectory(prefix=f"lambda-{name}-") as tmp:
        workdir = Path(tmp)
        stage = workdir / "stage"
        stage.mkdir()
        install_requirements(requirements, stage, workdir)
        packages = copy_member_sources(members, stage)
        target = out_dir / f"{name}.zip"
        write_zip(stage, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()[:16]
    size_mib = target.stat().st_size / 2**20
    print(
        f"{name}: {target} ({size_mib:.1f} MiB, sha256 {digest}..., packages {', '.join(packages)})"
    )
    if size_mib > 50:
        raise BuildError(f"{target} is over Lambda's 50 MiB zipped upload limit")
    return target


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and build the requested zips."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"functions among {sorted(LAMBDAS)} (default: all)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "build" / "lambda", help="output folder"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(LAMBDAS))
    if unknown:
        parser.error(f"unknown function(s) {unknown}; choose from {sorted(LAMBDAS)}")
    try:
        uv = find_uv()
        for name in args.names or sorted(LAMBDAS):
            build(name, args.out.resolve(), uv)
    except BuildError as error:
        print(f"build_lambda: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
