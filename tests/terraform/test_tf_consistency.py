"""Terraform agrees with the code: env vars, routes, resource names, handlers, queue limits.

Each service's ``Settings`` class (pydantic-settings, no prefix: the upper-cased field name is the
environment variable) and FastAPI app are imported and compared with what the modules configure.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

ENVIRONMENTS = sorted(
    path.name for path in (Path(__file__).resolve().parents[2] / "terraform" / "envs").iterdir()
)

# Variables the Lambda runtime sets itself (AWS_REGION is reserved: Terraform may not set it).
LAMBDA_RUNTIME_VARIABLES = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_EXECUTION_ENV",
    "LAMBDA_TASK_ROOT",
}

# service -> (Settings module, Terraform module, ECS or Lambda)
SERVICES = {
    "loader": ("speedrun_loader.config", "loader", "lambda"),
    "signon": ("speedrun_signon.config", "signon", "ecs"),
    "speedrun": ("speedrun_run.config", "speedrun", "ecs"),
    "reporter": ("speedrun_reporter.config", "reporter", "lambda"),
}

# Set by Terraform although the service's Settings does not read it (yet): the issue mounts the
# question sets into the speedrun tasks, but speedrun_run gets a run's questions from Redis today.
SET_BUT_UNREAD = {"speedrun": {"QUESTION_SET_DIR"}}

# Routes served to the load balancer only, never to players.
INTERNAL_PATHS = {"/healthz"}


def _configured_variables(module: Any, kind: str) -> set[str]:
    names = set(module.locals_["environment"])
    if kind == "ecs":
        names |= set(module.locals_["secrets"])
    else:
        names |= LAMBDA_RUNTIME_VARIABLES
    return names


def _required_variables(settings_class: type) -> set[str]:
    fields = settings_class.model_fields  # type: ignore[attr-defined]
    return {_env_name(name, info) for name, info in fields.items() if info.is_required()}


def _declared_variables(settings_class: type) -> set[str]:
    fields = settings_class.model_fields  # type: ignore[attr-defined]
    return {_env_name(name, info) for name, info in fields.items()}


def _env_name(name: str, info: Any) -> str:
    alias = getattr(info, "validation_alias", None) or getattr(info, "alias", None)
    return alias.upper() if isinstance(alias, str) else name.upper()


# ------------------------------------------------------------------ (a) environment variables


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_required_settings_are_set_by_terraform(service: str, modules: dict[str, Any]) -> None:
    settings_module, module_name, kind = SERVICES[service]
    settings_class = importlib.import_module(settings_module).Settings
    configured = _configured_variables(modules[module_name], kind)
    missing = _required_variables(settings_class) - configured
    assert not missing, (
        f"{service}: Settings requires {sorted(missing)}, Terraform does not set them"
    )


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_terraform_variables_are_declared_by_settings(
    service: str, modules: dict[str, Any]
) -> None:
    settings_module, module_name, kind = SERVICES[service]
    settings_class = importlib.import_module(settings_module).Settings
    configured = set(modules[module_name].locals_["environment"])
    if kind == "ecs":
        configured |= set(modules[module_name].locals_["secrets"])
    # Read by boto3 / Powertools rather than Settings.
    ignored = {"AWS_REGION"} | {name for name in configured if name.startswith("POWERTOOLS_")}
    ignored |= SET_BUT_UNREAD.get(service, set())
    unknown = configured - ignored - _declared_variables(settings_class)
    assert not unknown, f"{service}: Terraform sets {sorted(unknown)}, Settings does not read them"


@pytest.mark.parametrize("service", ["signon", "speedrun"])
def test_secrets_are_injected_for_ecs_services(service: str, modules: dict[str, Any]) -> None:
    secrets = modules[service].locals_["secrets"]
    assert set(secrets) == {"REDIS_AUTH_TOKEN", "TOKEN_SECRET"}
    assert not {"REDIS_AUTH_TOKEN", "TOKEN_SECRET"} & set(modules[service].locals_["environment"])


def test_reporter_reads_redis_token_from_secret_arn(modules: dict[str, Any]) -> None:
    environment = modules["reporter"].locals_["environment"]
    assert "REDIS_AUTH_TOKEN" not in environment
    assert environment["REDIS_AUTH_TOKEN_SECRET_ARN"] == "${var.redis_auth_token_secret_arn}"
    assert "AWS_REGION" not in environment, "AWS_REGION is reserved in Lambda"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_environment_is_production_in_aws(service: str, modules: dict[str, Any]) -> None:
    assert modules[SERVICES[service][1]].locals_["environment"]["ENVIRONMENT"] == "production"


# ------------------------------------------------------------------ (b) routes


def _api_route_pattern(route_key: str) -> tuple[str, re.Pattern[str]]:
    method, path = route_key.split(" ", 1)
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.endswith("+}"):
            regex += ".+"
        elif part.startswith("{"):
            regex += "[^/]+"
        else:
            regex += re.escape(part)
    return method, re.compile(regex)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def _served_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves to clients.

    The OpenAPI document is the public, version-stable list of HTTP routes (newer FastAPI
    versions keep included routers behind private wrappers in ``app.routes``); WebSocket routes
    and mounts, which OpenAPI omits, come from ``app.routes``.
    """
    from fastapi.routing import APIRoute, APIWebSocketRoute
    from starlette.routing import Mount

    served = {
        (method.upper(), path)
        for path, operations in app.openapi().get("paths", {}).items()
        for method in operations
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
    }
    for route in app.routes:
        if isinstance(route, APIRoute):
            served |= {(method, route.path) for method in route.methods or ()}
        elif isinstance(route, APIWebSocketRoute):
            served.add(("GET", route.path))
        elif isinstance(route, Mount):
            served.add(("GET", route.path.rstrip("/") + "/{path}"))
    return sorted((method, path) for method, path in served if path not in INTERNAL_PATHS)


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def _build_app(factory_module: str, settings_module: str, settings_environment: Any) -> Any:
    settings_class = importlib.import_module(settings_module).Settings
    settings_environment(settings_class)
    create_app = importlib.import_module(factory_module).create_app
    if inspect.signature(create_app).parameters:
        return create_app(settings_class())
    return create_app()


@pytest.mark.parametrize(
    ("service", "route_keys_local"),
    [("loader", "loader_route_keys"), ("signon", "signon_route_keys")],
)
def test_every_app_route_is_routed_by_cloudfront_and_api_gateway(
    service: str, route_keys_local: str, modules: dict[str, Any], settings_environment: Any
) -> None:
    app = _build_app(f"speedrun_{service}.app", SERVICES[service][0], settings_environment)
    served = _served_routes(app)
    assert served, f"{service} serves no routes"
    api_routes = [_api_route_pattern(key) for key in modules["api"].locals_[route_keys_local]]
    cloudfront = [_glob(pattern) for pattern in modules["web"].locals_["api_path_patterns"]]
    unrouted = []
    for method, path in served:
        sample = _sample(path)
        via_api = any(
            (route_method in ("ANY", method)) and regex.fullmatch(sample)
            for route_method, regex in api_routes
        )
        via_cloudfront = any(regex.fullmatch(sample) for regex in cloudfront)
        if not (via_api and via_cloudfront):
            unrouted.append(
                f"{method} {path} (API Gateway: {via_api}, CloudFront: {via_cloudfront})"
            )
    assert not unrouted, f"{service} routes nobody can reach: {unrouted}"


def test_signon_alb_rule_matches_signon_routes(
    modules: dict[str, Any], settings_environment: Any
) -> None:
    app = _build_app("speedrun_signon.app", "speedrun_signon.config", settings_environment)
    rule = modules["signon"].resource("aws_lb_listener_rule")
    patterns = [
        _glob(value)
        for condition in rule["condition"]
        for path_pattern in condition.get("path_pattern", [])
        for value in path_pattern["values"]
    ]
    unrouted = [
        path
        for _, path in _served_routes(app)
        if not any(p.fullmatch(_sample(path)) for p in patterns)
    ]
    assert not unrouted, f"the internal ALB does not forward {unrouted} to sign-on"


def test_speedrun_websocket_path_goes_to_the_alb(modules: dict[str, Any]) -> None:
    assert modules["web"].locals_["speedrun_path_patterns"] == ["/speedrun"]
    rule = modules["speedrun"].resource("aws_lb_listener_rule")
    conditions = rule["condition"]
    paths = [v for c in conditions for p in c.get("path_pattern", []) for v in p["values"]]
    headers = [h["http_header_name"] for c in conditions for h in c.get("http_header", [])]
    assert paths == ["/speedrun"]
    assert headers == ["X-Origin-Verify"], "the public ALB must require CloudFront's secret header"


# ------------------------------------------------------------------ (c) names


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_resource_names_follow_shared_names(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    from speedrun_protocol import names

    env = environments[environment]
    assert env.scope.lookup("var", "environment") == environment

    def name_of(module: str, resource_type: str, resource: str = "this") -> Any:
        scope = env.module_scope(modules[module])
        return scope.evaluate(modules[module].resource(resource_type, resource)["name"])

    assert name_of("queue", "aws_sqs_queue") == names.completion_queue_name(environment)
    assert name_of("queue", "aws_sqs_queue", "dlq") == names.completion_dlq_name(environment)
    assert name_of("run_store", "aws_dynamodb_table") == names.run_table_name(environment)
    prefix = names.resource_prefix(environment)
    assert (
        name_of("secrets", "aws_secretsmanager_secret", "token_secret") == f"{prefix}/token-secret"
    )
    assert (
        name_of("secrets", "aws_secretsmanager_secret", "redis_auth_token")
        == f"{prefix}/redis-auth-token"
    )


def test_run_table_has_the_keys_the_reporter_writes(modules: dict[str, Any]) -> None:
    table = modules["run_store"].resource("aws_dynamodb_table")
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert (table["hash_key"], table["range_key"]) == ("pk", "sk")
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {("pk", "S"), ("sk", "S")}
    assert "global_secondary_index" not in table and "local_secondary_index" not in table
    assert table["point_in_time_recovery"][0]["enabled"] is True
    sse = table["server_side_encryption"][0]
    assert sse["enabled"] is True and sse["kms_key_arn"]


# ------------------------------------------------------------------ (d) Lambda handlers


@pytest.mark.parametrize("service", ["loader", "reporter"])
def test_lambda_handler_resolves_to_callable(
    service: str, modules: dict[str, Any], settings_environment: Any
) -> None:
    function = modules[service].resource("aws_lambda_function")
    assert function["runtime"] == "python3.12"
    module_path, _, attribute = function["handler"].rpartition(".")
    settings_environment(importlib.import_module(SERVICES[service][0]).Settings)
    handler = getattr(importlib.import_module(module_path), attribute, None)
    assert callable(handler), f"{function['handler']} is not a callable attribute"


# ------------------------------------------------------------------ (e) queue limits


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_queue_redrive_allows_at_least_five_receives(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    from speedrun_protocol.names import COMPLETION_MAX_RECEIVE_COUNT

    queue = modules["queue"].resource("aws_sqs_queue")
    match = re.search(r"maxReceiveCount\s*=\s*([^,}\s]+)", queue["redrive_policy"])
    assert match, "the completion queue has no maxReceiveCount"
    scope = environments[environment].module_scope(modules["queue"])
    max_receive_count = scope.evaluate("${" + match.group(1) + "}")
    assert max_receive_count >= 5
    assert max_receive_count == COMPLETION_MAX_RECEIVE_COUNT, "the local stack uses another limit"
    assert "aws_sqs_queue.dlq.arn" in queue["redrive_policy"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_queue_visibility_covers_six_reporter_timeouts(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    env = environments[environment]
    visibility = env.module_scope(modules["queue"]).evaluate(
        modules["queue"].resource("aws_sqs_queue")["visibility_timeout_seconds"]
    )
    timeout = env.module_scope(modules["reporter"]).evaluate(
        modules["reporter"].resource("aws_lambda_function")["timeout"]
    )
    assert isinstance(timeout, int) and timeout > 0
    assert visibility >= 6 * timeout, f"visibility {visibility}s < 6 x reporter timeout {timeout}s"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_reporter_timeout_matches_local_stack(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    from speedrun_aws.resources import REPORTER_TIMEOUT_S

    timeout = (
        environments[environment]
        .module_scope(modules["reporter"])
        .evaluate(modules["reporter"].resource("aws_lambda_function")["timeout"])
    )
    assert timeout == REPORTER_TIMEOUT_S


# ------------------------------------------------------------------ (f) event source mapping


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_event_source_mapping_reports_batch_item_failures(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    mapping = modules["reporter"].resource("aws_lambda_event_source_mapping")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["event_source_arn"] == "${var.queue_arn}"
    scope = environments[environment].module_scope(modules["reporter"])
    assert 1 <= scope.evaluate(mapping["batch_size"]) <= 10
    assert scope.evaluate(mapping["maximum_batching_window_in_seconds"]) > 0


# ------------------------------------------------------------------ ECS services and load balancers


@pytest.mark.parametrize("service", ["signon", "speedrun"])
def test_ecs_container_stops_gracefully_with_read_only_root(
    service: str, modules: dict[str, Any]
) -> None:
    task = modules[service].resource("aws_ecs_task_definition")
    container = task["container_definitions"]
    assert re.search(r"stopTimeout\s*=\s*30\b", container), "stopTimeout must be 30"
    assert re.search(r"readonlyRootFilesystem\s*=\s*true\b", container)
    assert re.search(r'containerPath\s*=\s*"/tmp"', container), (
        "a read-only root needs a /tmp volume"
    )
    efs = [v for v in task["volume"] if "efs_volume_configuration" in v]
    assert efs and efs[0]["efs_volume_configuration"][0]["transit_encryption"] == "ENABLED"
    service_block = modules[service].resource("aws_ecs_service")
    assert service_block["network_configuration"][0]["assign_public_ip"] is False


@pytest.mark.parametrize("service", ["signon", "speedrun"])
def test_target_group_checks_healthz_and_drains(
    service: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    target_group = modules[service].resource("aws_lb_target_group")
    scope = environments[ENVIRONMENTS[0]].module_scope(modules[service])
    assert target_group["health_check"][0]["path"] == "/healthz"
    assert scope.evaluate(target_group["port"]) == 8000
    assert 20 <= target_group["deregistration_delay"] <= 60, "WebSockets need time to drain"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_public_alb_idles_long_enough_for_websockets(
    environment: str, modules: dict[str, Any], environments: dict[str, Any]
) -> None:
    scope = environments[environment].module_scope(modules["load_balancer"], "public_alb")
    assert scope.evaluate(modules["load_balancer"].resource("aws_lb")["idle_timeout"]) >= 60
    assert scope.lookup("var", "allow_cloudfront_only") is True


def test_speedrun_scales_on_cpu_and_connections(modules: dict[str, Any]) -> None:
    policies = modules["speedrun"].resources("aws_appautoscaling_policy")
    assert set(policies) == {"cpu", "connections"}
    metrics = policies["connections"]["target_tracking_scaling_policy_configuration"][0][
        "customized_metric_specification"
    ][0]["metrics"]
    names = {m["metric_stat"][0]["metric"][0]["metric_name"] for m in metrics if "metric_stat" in m}
    assert "ActiveConnectionCount" in names


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(
    ("settings_module", "alb"),
    [("speedrun_signon.config", "internal_alb"), ("speedrun_run.config", "public_alb")],
)
def test_services_keep_connections_longer_than_their_alb(
    environment: str,
    settings_module: str,
    alb: str,
    modules: dict[str, Any],
    environments: dict[str, Any],
) -> None:
    """The balancer must close idle connections first: a service closing one races with the
    balancer's next request on it, which the client sees as a 502."""
    settings = importlib.import_module(settings_module).Settings
    service = "signon" if alb == "internal_alb" else "speedrun"
    assert "KEEP_ALIVE_S" not in modules[service].locals_["environment"]
    scope = environments[environment].module_scope(modules["load_balancer"], alb)
    idle = scope.evaluate(modules["load_balancer"].resource("aws_lb")["idle_timeout"])
    assert settings.model_fields["keep_alive_s"].default > idle
