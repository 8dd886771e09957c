"""Helpers for the static Terraform tests: parse the .tf files, evaluate simple expressions.

python-hcl2 changed its output over versions (newer ones keep string quotes and add
``__is_block__`` markers); :func:`normalize` gives one shape for all of them. :class:`Scope`
evaluates the few expression forms the tests need (literals, ``var.``/``local.`` references,
string interpolation and integer arithmetic) for a module as called from an environment, so a
test can compare the values Terraform would use with the names and limits the code relies on.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
ENVS_DIR = TERRAFORM_DIR / "envs"
ENVIRONMENTS = sorted(path.name for path in ENVS_DIR.iterdir() if path.is_dir())

_REFERENCE = re.compile(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)")
_WHOLE_EXPRESSION = re.compile(r"\A\$\{(.*)\}\Z", re.S)
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"max": max, "min": min}


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalize(value: Any) -> Any:
    """Strip python-hcl2's quotes and block markers so every version parses alike."""
    if isinstance(value, dict):
        return {
            _unquote(k): normalize(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return _unquote(value)


@functools.cache
def parse_file(path: Path) -> dict[str, Any]:
    """Parse one .tf or .tfvars file into normalized dicts and lists (cached: read-only)."""
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = normalize(hcl2.load(handle))
    return parsed


def parse_dir(directory: Path) -> dict[str, list[Any]]:
    """Parse every .tf file of a directory; top-level block lists are concatenated."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for key, blocks in parse_file(path).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def _evaluate_arithmetic(source: str) -> Any:
    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(walk(arg) for arg in node.args))
        raise ValueError(f"expression not supported by the test evaluator: {source!r}")

    return walk(ast.parse(source.strip(), mode="eval"))


@dataclass
class Scope:
    """What ``var.`` and ``local.`` mean in one directory (an env, or a module as called)."""

    variables: dict[str, Any]
    locals_: dict[str, Any]
    _resolving: set[str] = field(default_factory=set)

    def lookup(self, kind: str, name: str) -> Any:
        table = self.variables if kind == "var" else self.locals_
        if name not in table:
            raise KeyError(f"{kind}.{name} has no value (no argument, default or local)")
        key = f"{kind}.{name}"
        if key in self._resolving:
            raise ValueError(f"{key} refers to itself")
        self._resolving.add(key)
        try:
            return self.evaluate(table[name])
        finally:
            self._resolving.discard(key)

    def evaluate(self, expression: Any) -> Any:
        """Evaluate a literal, a reference, string interpolation or integer arithmetic."""
        if isinstance(expression, list):
            return [self.evaluate(item) for item in expression]
        if isinstance(expression, dict):
            return {key: self.evaluate(value) for key, value in expression.items()}
        if not isinstance(expression, str):
            return expression
        whole = _WHOLE_EXPRESSION.match(expression)
        if whole and "${" not in whole.group(1):
            inner = whole.group(1).strip()
            reference = _REFERENCE.fullmatch(inner)
            if reference:
                return self.lookup(reference.group(1), reference.group(2))
            substituted = _REFERENCE.sub(
                lambda match: repr(self.lookup(match.group(1), match.group(2))), inner
            )
            return _evaluate_arithmetic(substituted)
        return _INTERPOLATION.sub(
            lambda match: str(self.evaluate("${" + match.group(1) + "}")), expression
        )


@dataclass
class Module:
    """One module directory, parsed."""

    name: str
    path: Path
    blocks: dict[str, list[Any]]

    @property
    def locals_(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for block in self.blocks.get("locals", []):
            merged.update(block)
        return merged

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {
            name: body for block in self.blocks.get("variable", []) for name, body in block.items()
        }

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {
            name: body for block in self.blocks.get("output", []) for name, body in block.items()
        }

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks.get("resource", []):
            for rtype, named in block.items():
                if rtype == resource_type:
                    found.update(named)
        return found

    def resource(self, resource_type: str, name: str = "this") -> dict[str, Any]:
        resources = self.resources(resource_type)
        assert name in resources, f"{self.name}: no {resource_type}.{name}"
        return resources[name]


@dataclass
class Environment:
    """One composition under terraform/envs, with its terraform.tfvars."""

    name: str
    path: Path
    blocks: dict[str, list[Any]]
    tfvars: dict[str, Any]

    @property
    def scope(self) -> Scope:
        variables = {
            name: body.get("default")
            for block in self.blocks.get("variable", [])
            for name, body in block.items()
        }
        variables.update(self.tfvars)
        locals_: dict[str, Any] = {}
        for block in self.blocks.get("locals", []):
            locals_.update(block)
        return Scope(variables=variables, locals_=locals_)

    def module_calls(self) -> dict[str, dict[str, Any]]:
        return {
            name: body for block in self.blocks.get("module", []) for name, body in block.items()
        }

    def calls_of(self, module_name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for call_name, body in self.module_calls().items():
            if Path(body["source"]).name == module_name:
                yield call_name, body

    def module_scope(self, module: Module, call_name: str | None = None) -> Scope:
        """The scope of ``module`` as this environment calls it (the one call, or ``call_name``)."""
        calls = dict(self.calls_of(module.name))
        assert calls, f"env {self.name} does not call module {module.name}"
        if call_name is None:
            assert len(calls) == 1, f"env {self.name} calls {module.name} {len(calls)} times"
            call_name = next(iter(calls))
        arguments = calls[call_name]
        env_scope = self.scope
        variables: dict[str, Any] = {
            name: body.get("default") for name, body in module.variables.items()
        }
        for name in module.variables:
            if name in arguments:
                variables[name] = _Deferred(env_scope, arguments[name])
        return _ModuleScope(variables=variables, locals_=module.locals_)


@dataclass
class _Deferred:
    scope: Scope
    expression: Any


class _ModuleScope(Scope):
    def lookup(self, kind: str, name: str) -> Any:
        value = self.variables.get(name) if kind == "var" else None
        if isinstance(value, _Deferred):
            return value.scope.evaluate(value.expression)
        return super().lookup(kind, name)


@pytest.fixture(scope="session")
def parse_tf() -> Callable[[Path], dict[str, Any]]:
    """:func:`parse_file`, for tests (conftest is not importable under --import-mode=importlib)."""
    return parse_file


@pytest.fixture(scope="session")
def modules() -> dict[str, Module]:
    """Every module under terraform/modules, parsed, by directory name."""
    return {
        path.name: Module(name=path.name, path=path, blocks=parse_dir(path))
        for path in sorted(MODULES_DIR.iterdir())
        if path.is_dir()
    }


@pytest.fixture(scope="session")
def environments() -> dict[str, Environment]:
    """Every composition under terraform/envs, parsed with its terraform.tfvars."""
    found = {}
    for name in ENVIRONMENTS:
        path = ENVS_DIR / name
        tfvars_path = path / "terraform.tfvars"
        tfvars = parse_file(tfvars_path) if tfvars_path.exists() else {}
        found[name] = Environment(name=name, path=path, blocks=parse_dir(path), tfvars=tfvars)
    return found


def _dummy_value(name: str, annotation: Any, tmp_path: Path) -> str:
    lowered = name.lower()
    text = str(annotation).lower()
    if lowered == "environment":
        return "development"
    if lowered == "log_level":
        return "INFO"
    if "redis" in lowered and "url" in lowered:
        return "redis://localhost:6379/0"
    if "queue" in lowered and "url" in lowered:
        return "http://localhost:4566/000000000000/speedrun-local-completion"
    if "origins" in lowered:
        return "https://example.test"
    if lowered.endswith("_url") or "url" in text:
        return "https://example.test"
    if lowered.endswith("_arn"):
        return "arn:aws:secretsmanager:us-east-1:000000000000:secret:speedrun-local-x"
    if lowered.endswith(("_dir", "_path")) or "path" in text:
        return str(tmp_path)
    if "region" in lowered:
        return "us-east-1"
    if "table" in lowered:
        return "speedrun-local-runs"
    if "secret" in lowered or "token" in lowered or "password" in lowered:
        return "test-secret-" + "x" * 52
    if "int" in text or "float" in text:
        return "1"
    if "bool" in text:
        return "false"
    return "test"


@pytest.fixture
def settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[type], None]:
    """Set plausible values for every required field of a Settings class (development mode)."""

    def apply(settings_class: type) -> None:
        monkeypatch.setenv("ENVIRONMENT", "development")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        for name, info in settings_class.model_fields.items():  # type: ignore[attr-defined]
            if info.is_required():
                monkeypatch.setenv(
                    env_var_name(name, info), _dummy_value(name, info.annotation, tmp_path)
                )

    return apply


def env_var_name(field_name: str, info: Any) -> str:
    """The environment variable pydantic-settings reads for a field (no prefix is configured)."""
    alias = getattr(info, "validation_alias", None) or getattr(info, "alias", None)
    if isinstance(alias, str):
        return alias.upper()
    return field_name.upper()
