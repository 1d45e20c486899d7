"""The bot's settings: the [discord] section of the config, then the environment.

The token is a secret and only ever comes from the environment or a `.env` file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.config_check import build_section

ENV_OVERRIDES = {
    "api_base": "BRIEFBOT_DISCORD_API_BASE",
    "gateway": "BRIEFBOT_DISCORD_GATEWAY",
}


@dataclass(frozen=True)
class BotSettings:
    api_base: str = "https://discord.com/api/v10"
    gateway: str = "wss://gateway.discord.gg"
    dev_guild_id: int = 0
    max_concurrent_queries: int = 4
    max_queued_queries: int = 32
    ask_cooldown_seconds: float = 5.0
    ask_channel_per_minute: int = 20
    max_question_chars: int = 500
    guild_ready_timeout: float = 2.0
    admin_channel_id: int = 0
    feed_interval_minutes: float = 15.0
    watch_alerts_per_hour: int = 5
    # Gateway sharding (bot.app): 0 = one unsharded connection; ids () = all of them.
    shard_count: int = 0
    shard_ids: tuple[int, ...] = ()

    @classmethod
    def from_raw(
        cls, raw: dict[str, Any], origins: dict[tuple[str, str], str] | None = None
    ) -> BotSettings:
        """[discord], checked like the library's sections (`build_section`); `origins`
        (from `Settings.origins`) lets an error name the file that set the key."""
        section = dict(raw.get("discord", {}))
        for key, env in ENV_OVERRIDES.items():
            if os.environ.get(env):
                section[key] = os.environ[env]
        return build_section(cls, section, "discord", {**(origins or {}), **env_origins()})


def env_origins() -> dict[tuple[str, str], str]:
    """The [discord] keys the environment sets, each with its variable (as `$NAME`)."""
    return {
        ("discord", key): f"${env}" for key, env in ENV_OVERRIDES.items() if os.environ.get(env)
    }


def discord_token(env_file: Path = Path(".env")) -> str | None:
    """DISCORD_TOKEN from the environment, else from a `.env` file in the working directory."""
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if token:
        return token
    if env_file.exists():
        for line in env_file.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip().removeprefix("export ").strip() == "DISCORD_TOKEN" and value.strip():
                return value.strip().strip("'\"")
    return None
