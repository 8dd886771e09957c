"""The HTTP side of a speedrun stack (local or deployed), as one small async client.

Every error answer of every speedrun API has one shape (``{"error": {code, message, details}}``);
:class:`ApiError` carries it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class ApiError(Exception):
    """An API answered with an error (or not at all)."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        """Record the error's status, stable code, message and located details."""
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        raise ApiError(
            response.status_code,
            str(error.get("code", "error")),
            str(error.get("message", "")),
            list(error.get("details") or []),
        )
    except (ValueError, KeyError, TypeError):
        raise ApiError(
            response.status_code, "http_error", response.text[:200] or response.reason_phrase
        ) from None


class SpeedrunApi:
    """The loader and sign-on APIs behind one base URL (the gateway or CloudFront)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        """Make a client of the stack at ``base_url`` (e.g. ``http://127.0.0.1:8080``)."""
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    @property
    def origin(self) -> str:
        """The web app's origin, sent as ``Origin`` on WebSocket connections."""
        url = httpx.URL(self.base_url)
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}"

    def websocket_url(self, path: str = "/speedrun") -> str:
        """The WebSocket URL of the game."""
        return self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + path

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"{self.base_url}: {exc}") from exc
        _raise_for_error(response)
        return response

    async def upload(self, data: bytes, filename: str) -> dict[str, Any]:
        """Upload a question set; return the stored set's summary (with its ``id``)."""
        files = {"file": (filename, data, "application/octet-stream")}
        response = await self._request("POST", "/question-set-upload", files=files)
        return dict(response.json())

    async def question_sets(self) -> list[dict[str, Any]]:
        """List the stored question sets."""
        body = (await self._request("GET", "/question-sets")).json()
        return list(body["items"] if isinstance(body, dict) else body)

    async def question_set(self, question_set_id: str) -> dict[str, Any]:
        """Read one stored question set, questions and correct options included."""
        return dict((await self._request("GET", f"/question-sets/{question_set_id}")).json())

    async def create_run(self, question_set_id: str, mode: str, **options: Any) -> dict[str, Any]:
        """Open a speedrun; return sign-on's answer (id, join code, host token, ...)."""
        body = {"question_set_id": question_set_id, "mode": mode} | {
            k: v for k, v in options.items() if v is not None
        }
        return dict((await self._request("POST", "/signon/speedruns", json=body)).json())

    async def lobby(self, join_code: str) -> dict[str, Any]:
        """What the join page shows about the run holding ``join_code``."""
        return dict((await self._request("GET", f"/signon/speedruns/{join_code}")).json())

    async def join(self, join_code: str, nickname: str) -> dict[str, Any]:
        """Join a run; return the participant's id and token."""
        response = await self._request(
            "POST", f"/signon/speedruns/{join_code}/participants", json={"nickname": nickname}
        )
        return dict(response.json())

    async def results(self, speedrun_id: str, token: str, fmt: str = "json") -> httpx.Response:
        """Fetch a run's results (``json``, ``csv`` or ``xlsx``) with a host or player token."""
        return await self._request(
            "GET",
            f"/signon/speedruns/{speedrun_id}/results",
            params={"format": fmt},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def __aenter__(self) -> SpeedrunApi:
        """Use as an async context manager."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connections."""
        await self.aclose()
