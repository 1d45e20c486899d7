"""How much one person, one channel and everyone together may ask of the bot at once.

Questions (/ask and mentions) cost a search each. A user waits `ask_cooldown_seconds`
between two; a channel gets `ask_channel_per_minute`; a question is at most
`max_question_chars` long. Each refusal is one polite line (an InputError, shown
ephemerally), never a silent drop. The buckets are discord.py's own token buckets
(`app_commands.Cooldown`).
"""

from __future__ import annotations

import time

from discord import app_commands

from retrieval import InputError, wording

# Buckets kept before idle ones are forgotten (a bucket back at full rate is idle).
MAX_BUCKETS = 10_000


class TooFast(InputError):
    """A user or a channel asked past its rate limit."""


class AskLimits:
    def __init__(self, user_seconds: float, channel_per_minute: int, max_chars: int) -> None:
        self._user = app_commands.Cooldown(1, user_seconds) if user_seconds > 0 else None
        self._channel = (
            app_commands.Cooldown(channel_per_minute, 60.0) if channel_per_minute > 0 else None
        )
        self.max_chars = max_chars
        self._users: dict[int, app_commands.Cooldown] = {}
        self._channels: dict[int, app_commands.Cooldown] = {}

    def check(self, question: str, user_id: int, channel_id: int | None) -> None:
        """Refuse a question too long, or asked too fast by this user or in this channel;
        a refused question uses up neither bucket."""
        if len(question) > self.max_chars:
            raise InputError(
                wording.text("discord.errors.too_long", length=len(question), most=self.max_chars)
            )
        now = time.time()
        user = self._bucket(self._users, self._user, user_id)
        channel = self._bucket(self._channels, self._channel, channel_id or 0)
        if user is not None and (retry := user.get_retry_after(now)):
            raise TooFast(wording.text("discord.errors.too_fast", seconds=retry))
        if channel is not None and (retry := channel.get_retry_after(now)):
            raise TooFast(wording.text("discord.errors.channel_busy", seconds=retry))
        for bucket in (user, channel):
            if bucket is not None:
                bucket.update_rate_limit(now)

    @staticmethod
    def _bucket(
        buckets: dict[int, app_commands.Cooldown],
        template: app_commands.Cooldown | None,
        key: int,
    ) -> app_commands.Cooldown | None:
        if template is None:
            return None
        if key not in buckets and len(buckets) >= MAX_BUCKETS:
            now = time.time()
            for idle in [k for k, b in buckets.items() if b.get_tokens(now) == b.rate]:
                del buckets[idle]
        return buckets.setdefault(key, template.copy())


__all__ = ["AskLimits", "TooFast"]
