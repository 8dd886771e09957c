"""Health, configuration, and what happens without Redis."""

from __future__ import annotations

import httpx
import pytest

from speedrun_signon.app import create_app
from speedrun_signon.config import Settings
from speedrun_testkit.procs import free_port

SECRET = "a-test-secret-that-is-long-enough-0123456789"


async def test_healthz_with_redis_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_without_redis_answers_503(settings: Settings, question_set) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(dead)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://signon.test") as http:
            health = await http.get("/healthz")
            created = await http.post(
                "/signon/speedruns", json={"question_set_id": question_set.id, "mode": "self-paced"}
            )
            joined = await http.post(
                "/signon/speedruns/123456/participants", json={"nickname": "Ada"}
            )

    for response in (health, created, joined):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert "Traceback" not in response.text


def test_settings_without_secret_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("TOKEN_SECRET", raising=False)

    with pytest.raises(ValueError, match=r"token_secret|TOKEN_SECRET"):
        Settings()


@pytest.mark.parametrize("secret", ["", "change-me", "too-short"])
def test_settings_with_placeholder_secret_outside_development_fail(secret: str) -> None:
    with pytest.raises(ValueError, match="TOKEN_SECRET"):
        Settings(redis_url="redis://x", token_secret=secret, environment="production")


def test_settings_with_placeholder_secret_in_development_pass() -> None:
    settings = Settings(redis_url="redis://x", token_secret="change-me")

    assert settings.environment == "development"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TOKEN_SECRET", SECRET)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "2")

    settings = Settings()

    assert (settings.redis_url, settings.environment, settings.trusted_proxy_hops) == (
        "redis://cache:6379/0",
        "production",
        2,
    )
    assert settings.run_table_name == "speedrun-local-runs"


def test_server_keeps_idle_connections_as_configured(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m speedrun_signon`` hands uvicorn the keep-alive (75 s unless set): longer than
    the load balancer's idle timeout, see the Terraform consistency tests."""
    import uvicorn

    from speedrun_signon import __main__ as entry

    served: dict[str, object] = {}
    monkeypatch.setattr(entry, "get_settings", lambda: settings)
    monkeypatch.setattr(entry, "tune_gc", lambda: None)  # not for the test process
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    monkeypatch.setattr("sys.argv", ["speedrun_signon", "--port", "8123"])

    entry.main()

    assert served["timeout_keep_alive"] == 75
    assert served["proxy_headers"] is False  # the address is client_address's alone
    assert served["port"] == 8123
