"""Server configuration: built once (CLI flags, a JSON/TOML file, environment), validated, immutable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import InputError
from ..settings import EngineConfig, _Strict, validated

__all__ = ["ServerConfig", "load_config", "API_KEYS_ENV", "API_KEYS_FILE_ENV"]

API_KEYS_ENV = "GREENTTS_API_KEYS"  # comma-separated
API_KEYS_FILE_ENV = "GREENTTS_API_KEYS_FILE"  # one key per line


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    warm_up: bool = Field(True, description="load and warm the models before /readyz says ready")
    api_keys: tuple[str, ...] = Field((), description="Bearer keys; empty = no auth (see also the env vars)")
    api_keys_file: Path | None = None
    cors_origins: tuple[str, ...] = Field((), description="allowed browser origins; empty = CORS off")
    max_input_chars: int = Field(4096, ge=1, le=1_000_000, description="longest input (OpenAI: 4096)")
    max_requests: int = Field(64, ge=1, description="speech requests admitted at once; more get 429")
    max_first_audio_wait_s: float = Field(5.0, gt=0.0, description="a streamed request whose first audio is "
                                          "estimated to wait longer gets 429 with a computed Retry-After")
    first_audio_cost_s: float = Field(0.3, gt=0.0, description="first-audio wait per request ahead assumed "
                                      "until the server has measured its own")
    request_timeout_s: float = Field(300.0, gt=0.0, description="a request running longer is stopped")
    retry_after_s: int = Field(1, ge=1, description="least Retry-After on 429")
    public_ops: bool = Field(False, description="with API keys set: true leaves /metrics, /docs and "
                             "/openapi.json open to callers without a key (false: they need one)")
    max_body_mb: float = Field(2.0, gt=0.0, description="largest request body, except enrollment uploads")
    max_upload_mb: float = Field(20.0, gt=0.0, description="largest enrollment upload")
    max_upload_s: float = Field(60.0, gt=0.0, description="longest enrollment upload (its cleanest 5-8 s of speech is used)")
    keep_reports: int = Field(1024, ge=0, description="finished requests whose energy report stays queryable")

    def keys(self) -> tuple[str, ...]:
        """Every accepted key: config, file, ``$GREENTTS_API_KEYS`` and ``$GREENTTS_API_KEYS_FILE``."""
        keys = list(self.api_keys)
        env = os.environ.get(API_KEYS_ENV, "")
        keys += [k.strip() for k in env.split(",") if k.strip()]
        files = [self.api_keys_file] if self.api_keys_file else []
        if os.environ.get(API_KEYS_FILE_ENV):
            files.append(Path(os.environ[API_KEYS_FILE_ENV]))
        for path in files:
            try:
                keys += [line.strip() for line in path.read_text().splitlines()
                         if line.strip() and not line.startswith("#")]
            except OSError as exc:
                raise InputError(f"cannot read API keys from {path}: {exc.strerror}") from None
        return tuple(dict.fromkeys(keys))


def load_config(path: Path | None = None, **overrides: Any) -> ServerConfig:
    """A :class:`ServerConfig` from a JSON or TOML file (optional) plus overrides (None = keep)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"cannot read server config {path}: {exc.strerror}") from None
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                data = tomllib.loads(text)
            else:
                data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"server config {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"server config {path} must be a table/object of settings")
    engine = {**data.pop("engine", {}), **overrides.pop("engine", {})}
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["engine"] = validated(EngineConfig, None, **engine)
    return validated(ServerConfig, None, **data)
