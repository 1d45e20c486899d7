"""A fake Discord REST API and gateway on 127.0.0.1 that the real discord.py client can use.

Point the client at it with ``discord.http.Route.BASE = server.api_base`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)`` (or, for
briefbot, the settings ``BRIEFBOT_DISCORD_API_BASE`` / ``BRIEFBOT_DISCORD_GATEWAY``).

Async use, on the test's own loop::

    async with FakeDiscord() as server:
        ...
        inter = server.send_interaction("ping")
        followups = await server.wait_for(lambda: inter.followups)

Threaded use, e.g. for a bot running in a subprocess::

    with FakeDiscord().run_in_thread() as server:
        server.wait_until(lambda: server.identify_count)

The ``send_*`` and connection-control methods are synchronous and may be called from any
thread; ``wait_for`` is a coroutine usable on any loop, ``wait_until`` its blocking twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL, LOADING = 64, 128
ALL_PERMS = str((1 << 51) - 1)  # every permission bit, Manage Server (1 << 5) included
JSONDict = dict[str, Any]
_ids = itertools.count(1)


def snowflake() -> str:
    """A unique, increasing Discord-style snowflake id (as a string, like the API)."""
    return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_ids) & 0x3FFFFF))


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json`` (discord.py needs it)."""
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def error_response(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status)


@dataclass
class RecordedRequest:
    """One REST request the client made; ``path`` is relative to ``/api/v10``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[JSONDict]
    headers: dict[str, str]
    time: float
    status: int = 0


@dataclass
class PostedMessage:
    """A message the bot posted with ``POST /channels/{id}/messages``."""

    channel_id: str
    body: JSONDict
    message: JSONDict


@dataclass
class InteractionRecord:
    """An interaction the fake dispatched, and everything the bot did in response to it.

    ``callbacks``/``followups``/``edits`` hold the raw request bodies; ``events`` all of them in
    arrival order as ``(kind, body)``; ``original`` the current ``@original`` message; ``rejected``
    the ``(status, code)`` errors the fake returned (late or repeated acknowledgements).
    """

    id: str
    token: str
    name: str
    type: int
    payload: JSONDict
    sent_at: float | None = None
    acknowledged_at: float | None = None
    callbacks: list[JSONDict] = field(default_factory=list)
    followups: list[JSONDict] = field(default_factory=list)
    edits: list[JSONDict] = field(default_factory=list)
    events: list[tuple[str, JSONDict]] = field(default_factory=list)
    original: JSONDict | None = None
    messages: dict[str, JSONDict] = field(default_factory=dict)
    rejected: list[tuple[int, int]] = field(default_factory=list)

    @property
    def callback_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def ephemeral(self) -> bool:
        data = (self.callbacks[0].get("data") or {}) if self.callbacks else {}
        return bool((data.get("flags") or 0) & EPHEMERAL)

    @property
    def choices(self) -> list[JSONDict] | None:
        """Autocomplete choices from a type 8 callback."""
        for cb in self.callbacks:
            if cb["type"] == 8:
                return (cb.get("data") or {}).get("choices", [])
        return None

    @property
    def responses(self) -> list[JSONDict]:
        """Message bodies the bot sent (callback ``data``, edits, follow-ups), in order."""
        return [(body.get("data") or {}) if kind == "callback" else body
                for kind, body in self.events if kind != "delete"]

    @property
    def contents(self) -> list[str]:
        """Every non-empty ``content`` the bot sent, in order (callback, edits, follow-ups)."""
        return [b["content"] for b in self.responses if b.get("content")]

    @property
    def embeds(self) -> list[JSONDict]:
        """Every embed the bot sent, in order."""
        return [e for b in self.responses for e in b.get("embeds") or []]


class World:
    """The Discord state: bot user, application, one guild, a text channel, a forum channel
    (type 15, with ``available_tags``), the threads started in either (type 11), a user."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.bot_user = self.make_user("briefbot", bot=True)
        self.user = self.make_user("analyst")
        self.app_id = self.bot_user["id"]
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.forum_id = snowflake()
        self.role_id = snowflake()
        self.users = {u["id"]: u for u in (self.bot_user, self.user)}
        self.forum_tags: list[JSONDict] = [self.make_tag("trade")]
        self.threads: dict[str, JSONDict] = {}  # thread id -> channel object (type 11)

    @staticmethod
    def make_tag(name: str) -> JSONDict:
        return {"id": snowflake(), "name": name, "moderated": False, "emoji_id": None,
                "emoji_name": None}

    @staticmethod
    def make_user(name: str, *, bot: bool = False) -> JSONDict:
        return {"id": snowflake(), "username": name, "discriminator": "0", "global_name": name,
                "avatar": None, "bot": bot, "public_flags": 0, "flags": 0}

    def member(self, user: JSONDict, **extra: Any) -> JSONDict:
        roles = [] if user.get("bot") else [self.role_id]
        return {"user": user, "roles": roles, "joined_at": _now_iso(), "deaf": False,
                "mute": False, "flags": 0, "nick": None, "avatar": None, "pending": False,
                "premium_since": None, **extra}

    def application(self) -> JSONDict:
        owner = self.user
        return {"id": self.app_id, "name": "briefbot", "description": "", "icon": None,
                "bot_public": True, "bot_require_code_grant": False, "owner": owner,
                "verify_key": "0" * 64, "flags": 0, "team": None, "summary": "",
                "rpc_origins": [], "bot": self.bot_user}

    def channel(self) -> JSONDict:
        return {"id": self.channel_id, "type": 0, "guild_id": self.guild_id, "name": "briefings",
                "position": 0, "permission_overwrites": [], "topic": None, "nsfw": False,
                "parent_id": None, "last_message_id": None, "rate_limit_per_user": 0}

    def forum(self) -> JSONDict:
        return {**self.channel(), "id": self.forum_id, "type": 15, "name": "stories",
                "available_tags": self.forum_tags, "default_reaction_emoji": None,
                "default_sort_order": None, "default_forum_layout": 0, "flags": 0,
                "default_thread_rate_limit_per_user": 0, "default_auto_archive_duration": 1440}

    def thread(self, thread_id: str, parent_id: str, body: Mapping[str, Any]) -> JSONDict:
        """A new public thread (type 11) as Discord returns it."""
        now = _now_iso()
        return {"id": thread_id, "type": 11, "guild_id": self.guild_id, "parent_id": parent_id,
                "owner_id": self.bot_user["id"], "name": body.get("name") or "",
                "last_message_id": None, "rate_limit_per_user": 0, "message_count": 0,
                "member_count": 1, "total_message_sent": 0, "flags": 0,
                "applied_tags": [str(t) for t in body.get("applied_tags") or []],
                "thread_metadata": {"archived": False, "locked": False, "archive_timestamp": now,
                                    "auto_archive_duration": body.get("auto_archive_duration")
                                    or 1440, "create_timestamp": now}}

    def channel_by_id(self, cid: str) -> JSONDict | None:
        if cid == self.channel_id:
            return self.channel()
        if cid == self.forum_id:
            return self.forum()
        return self.threads.get(cid)

    def guild(self) -> JSONDict:
        role = {"permissions": "0", "position": 0, "color": 0, "hoist": False, "managed": False,
                "mentionable": False, "flags": 0, "icon": None, "unicode_emoji": None}
        roles = [{**role, "id": self.guild_id, "name": "@everyone", "permissions": ALL_PERMS},
                 {**role, "id": self.role_id, "name": "Analyst", "position": 1}]
        members = [self.member(self.bot_user), self.member(self.user)]
        empty = ("presences", "voice_states", "stage_instances", "emojis", "stickers",
                 "guild_scheduled_events", "soundboard_sounds", "features")
        return {"id": self.guild_id, "name": "Trade Desk", "icon": None, "unavailable": False,
                "owner_id": self.user["id"], "large": False, "member_count": len(members),
                "joined_at": _now_iso(), "roles": roles, "members": members,
                "channels": [self.channel(), self.forum()], "preferred_locale": "en-US",
                "afk_timeout": 300,
                "verification_level": 0, "default_message_notifications": 0, "mfa_level": 0,
                "explicit_content_filter": 0, "premium_tier": 0, "nsfw_level": 0,
                "system_channel_flags": 0, "description": None, "banner": None, "splash": None,
                **{key: [] for key in empty},
                "threads": [t for t in self.threads.values()
                            if not t["thread_metadata"]["archived"]]}

    def message(self, channel_id: str, author: JSONDict, body: Mapping[str, Any],
                **extra: Any) -> JSONDict:
        """A full message object built from a create/edit body."""
        content = body.get("content") or ""
        mentioned = re.findall(r"<@!?(\d+)>", content)
        msg = {"id": snowflake(), "channel_id": channel_id, "guild_id": self.guild_id, "type": 0,
               "content": content, "author": author, "timestamp": _now_iso(),
               "edited_timestamp": None, "tts": bool(body.get("tts")), "mention_everyone": False,
               "mentions": [self.users[i] for i in mentioned if i in self.users],
               "mention_roles": [], "attachments": [], "embeds": body.get("embeds") or [],
               "components": body.get("components") or [], "pinned": False,
               "flags": body.get("flags") or 0}
        if body.get("message_reference"):
            ref = {k: str(v) if k.endswith("_id") else v
                   for k, v in body["message_reference"].items() if v is not None}
            msg["message_reference"] = {"channel_id": channel_id, "guild_id": self.guild_id, **ref}
        msg.update(extra)
        return msg


class Gateway:
    """The websocket gateway: sessions, sequence numbers, heartbeats, resume and replay."""

    def __init__(self, world: World, heartbeat_interval_ms: int, url: Callable[[], str]) -> None:
        self.world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._url = url
        self.sessions: dict[str, _Session] = {}
        self.current: _Session | None = None
        self.sockets: set[web.WebSocketResponse] = set()
        self.received: list[tuple[float, int, Any]] = []
        self.heartbeats: list[float] = []
        self.heartbeat_acks: list[float] = []  # op 11 sent back, after each op 1
        self.identify_count = 0
        self.resume_count = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.sockets.add(ws)
        conn = _Conn(ws, request.transport)
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms}
            await self._send(conn, {"op": 10, "d": hello})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self.sockets.discard(ws)
            for session in self.sessions.values():
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _on_frame(self, conn: _Conn, frame: JSONDict) -> None:
        op, d = frame.get("op"), frame.get("d")
        self.received.append((time.monotonic(), op, d))
        if op == 1:
            self.heartbeats.append(time.monotonic())
            await self._send(conn, {"op": 11})
            self.heartbeat_acks.append(time.monotonic())
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif op == 8:
            members = [self.world.member(u) for u in self.world.users.values()]
            await self.dispatch("GUILD_MEMBERS_CHUNK", {
                "guild_id": d["guild_id"], "members": members, "chunk_index": 0,
                "chunk_count": 1, "not_found": [], "presences": [], "nonce": d.get("nonce")})

    async def _identify(self, conn: _Conn, d: JSONDict) -> None:
        if d.get("token") != self.world.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identify_count += 1
        # A shard gets the guild's events only if the guild is its own, as Discord routes
        # them: shard = (guild_id >> 22) % shard_count. Unsharded, the one session has it.
        shard_id, shard_count = d.get("shard") or (0, 1)
        session = _Session(snowflake(), shard=(shard_id, shard_count))
        session.owns_guild = self.guild_shard(shard_count) == shard_id
        self.sessions[session.id] = session
        if session.owns_guild:
            self.current = session
        session.conn = conn
        guilds = [{"id": self.world.guild_id, "unavailable": True}] if session.owns_guild else []
        await self.dispatch("READY", {
            "v": 10, "user": {**self.world.bot_user, "verified": True, "mfa_enabled": False},
            "guilds": guilds, "shard": [shard_id, shard_count],
            "session_id": session.id, "resume_gateway_url": self._url(), "session_type": "normal",
            "application": {"id": self.world.app_id, "flags": 0}, "private_channels": [],
            "relationships": [], "presences": [], "geo_ordered_rtc_regions": []}, session)
        if session.owns_guild:
            await self.dispatch("GUILD_CREATE", self.world.guild(), session)

    def guild_shard(self, shard_count: int) -> int:
        """The shard of `shard_count` that the world's one guild is on."""
        return (int(self.world.guild_id) >> 22) % max(1, shard_count)

    async def _resume(self, conn: _Conn, d: JSONDict) -> None:
        session = self.sessions.get(d.get("session_id") or "")
        if session is None or d.get("token") != self.world.token:
            await self._send(conn, {"op": 9, "d": False})
            return
        self.resume_count += 1
        session.conn = conn
        if session.owns_guild:
            self.current = session
        last = d.get("seq") or 0
        for seq, name, data in list(session.events):
            if seq > last:
                await self._send(conn, {"op": 0, "t": name, "s": seq, "d": data})
        await self.dispatch("RESUMED", {}, session)

    async def dispatch(self, name: str, data: JSONDict, session: _Session | None = None) -> int:
        """Send an op 0 dispatch on `session`, by default the current one (the guild's
        shard's); buffered for replay if disconnected."""
        session = session or self.current
        if session is None:
            raise RuntimeError("no identified gateway session")
        session.seq += 1
        session.events.append((session.seq, name, data))
        if session.conn is not None:
            await self._send(session.conn, {"op": 0, "t": name, "s": session.seq, "d": data})
        return session.seq

    async def send_op(self, op: int, data: Any = None) -> None:
        if self.current is not None and self.current.conn is not None:
            await self._send(self.current.conn, {"op": op, "d": data})

    async def drop(self, code: int | None = None) -> None:
        """Abort the live connection (or close it with ``code``); the session stays resumable."""
        if self.current is None or self.current.conn is None:
            return
        conn, self.current.conn = self.current.conn, None
        if code is None:
            conn.transport.abort()
        else:
            await conn.ws.close(code=code)

    async def invalidate(self, resumable: bool) -> None:
        await self.send_op(9, resumable)
        if not resumable and self.current is not None:
            self.sessions.pop(self.current.id, None)
            self.current.conn = None
            self.current = None

    @staticmethod
    async def _send(conn: _Conn, frame: JSONDict) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps(frame))


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    transport: Any


@dataclass(eq=False)
class _Session:
    id: str
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count) from IDENTIFY
    owns_guild: bool = True  # whether the world's guild is on this shard
    seq: int = 0
    conn: _Conn | None = None
    events: list[tuple[int, str, JSONDict]] = field(default_factory=list)


Handler = Callable[..., Coroutine[Any, Any, web.StreamResponse]]


class RestApi:
    """The REST endpoints under ``/api/v10``; records every request."""

    def __init__(self, world: World, gateway_url: Callable[[], str], ack_deadline: float) -> None:
        self.world = world
        self.gateway_url = gateway_url
        self.ack_deadline = ack_deadline
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self.commands: dict[str | None, list[JSONDict]] = {}
        self.messages: dict[str, JSONDict] = {}
        self.posted: list[PostedMessage] = []
        self.interactions: dict[str, InteractionRecord] = {}
        self.denied: list[tuple[str, str, int]] = []  # (method, path glob, Discord code): 403
        self.dispatch: Callable[[str, JSONDict], None] = lambda name, data: None
        w = r"(?P<app>\d+)/(?P<token>[^/]+)"
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (m, re.compile(f"^{p}$"), h) for m, p, h in [
                ("GET", r"/users/@me", self.get_me),
                ("GET", r"/oauth2/applications/@me", self.get_application),
                ("GET", r"/gateway(?P<bot>/bot)?", self.get_gateway),
                ("GET", r"/applications/\d+(?:/guilds/(?P<guild>\d+))?/commands", self.get_cmds),
                ("PUT", r"/applications/\d+(?:/guilds/(?P<guild>\d+))?/commands", self.put_cmds),
                ("GET", r"/channels/(?P<cid>\d+)", self.get_channel),
                ("PATCH", r"/channels/(?P<cid>\d+)", self.edit_channel),
                ("POST", r"/channels/(?P<cid>\d+)/threads", self.forum_post),
                ("POST", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/threads",
                 self.start_thread),
                ("POST", r"/channels/(?P<cid>\d+)/typing", self.no_content),
                ("POST", r"/channels/(?P<cid>\d+)/messages", self.post_message),
                ("*", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self.channel_message),
                ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self.callback),
                ("POST", f"/webhooks/{w}", self.followup),
                ("*", f"/webhooks/{w}/messages/(?P<mid>@original|\\d+)", self.hook_message),
            ]
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        rec = RecordedRequest(request.method, path, dict(request.query), body, files,
                              dict(request.headers), time.monotonic())
        self.requests.append(rec)
        try:
            response = await self._route(request, rec)
        except Exception as exc:  # a bug in the fake: surface it, but fail fast (no 5xx retry)
            self.errors.append(exc)
            response = error_response(400, 0, f"fake discord error: {exc!r}")
        rec.status = response.status
        return response

    async def _route(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        public = rec.path.startswith(("/interactions/", "/webhooks/")) or rec.path == "/gateway"
        if not public and request.headers.get("Authorization") != f"Bot {self.world.token}":
            return error_response(401, 0, "401: Unauthorized")
        for method, glob, code in self.denied:
            if method == rec.method and fnmatch.fnmatchcase(rec.path, glob):
                message = "Missing Access" if code == 50001 else "Missing Permissions"
                return error_response(403, code, message)
        for method, pattern, handler in self.routes:
            match = pattern.match(rec.path)
            if match and method in ("*", rec.method):
                return await handler(rec, **match.groupdict())
        return error_response(404, 0, "404: Not Found")

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[JSONDict]]:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            files = [{"field": k, "filename": v.filename, "size": len(v.file.read())}
                     for k, v in form.items() if isinstance(v, web.FileField)]
            payload = form.get("payload_json")
            return (json.loads(payload) if isinstance(payload, str) else None), files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    # -- users, application, gateway, commands -------------------------------------------------

    async def get_me(self, rec: RecordedRequest) -> web.Response:
        return json_response({**self.world.bot_user, "verified": True, "mfa_enabled": False})

    async def get_application(self, rec: RecordedRequest) -> web.Response:
        return json_response(self.world.application())

    async def get_gateway(self, rec: RecordedRequest, bot: str | None) -> web.Response:
        data: JSONDict = {"url": self.gateway_url()}
        if bot:
            data |= {"shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}
        return json_response(data)

    async def get_cmds(self, rec: RecordedRequest, guild: str | None) -> web.Response:
        return json_response(self.commands.get(guild, []))

    async def put_cmds(self, rec: RecordedRequest, guild: str | None) -> web.Response:
        synced = [{"type": 1, "options": [], "default_member_permissions": None, "nsfw": False,
                   "dm_permission": True, **cmd, "id": snowflake(), "version": snowflake(),
                   "application_id": self.world.app_id, **({"guild_id": guild} if guild else {})}
                  for cmd in rec.json or []]
        self.commands[guild] = synced
        return json_response(synced)

    # -- channels and messages -----------------------------------------------------------------

    async def no_content(self, rec: RecordedRequest, **_: str) -> web.Response:
        return web.Response(status=204)

    async def get_channel(self, rec: RecordedRequest, cid: str) -> web.Response:
        channel = self.world.channel_by_id(cid)
        if channel is None:
            return error_response(404, 10003, "Unknown Channel")
        return json_response(channel)

    async def post_message(self, rec: RecordedRequest, cid: str) -> web.Response:
        """A message in the text channel or a thread. As on Discord, a message unarchives
        an archived thread unless it is locked; a forum takes posts, not messages."""
        thread = self.world.threads.get(cid)
        if cid != self.world.channel_id and thread is None:
            return error_response(404, 10003, "Unknown Channel")
        if thread is not None:
            meta = thread["thread_metadata"]
            if meta["archived"] and meta["locked"]:
                return error_response(400, 50083, "Thread is archived")
            if meta["archived"]:
                meta["archived"] = False
                self.dispatch("THREAD_UPDATE", thread)
        body = rec.json or {}
        return json_response(self._post(cid, body, self._files(rec)))

    def _post(self, cid: str, body: JSONDict, files: list[JSONDict], **extra: Any) -> JSONDict:
        msg = self.world.message(cid, self.world.bot_user, body, attachments=files, **extra)
        self.messages[msg["id"]] = msg
        self.posted.append(PostedMessage(cid, body, msg))
        if cid in self.world.threads:
            thread = self.world.threads[cid]
            thread["message_count"] += 1
            thread["last_message_id"] = msg["id"]
        return msg

    # -- threads and forum posts ---------------------------------------------------------------

    def _new_thread(self, thread_id: str, parent_id: str, body: JSONDict) -> JSONDict:
        thread = self.world.thread(thread_id, parent_id, body)
        self.world.threads[thread_id] = thread
        self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def start_thread(self, rec: RecordedRequest, cid: str, mid: str) -> web.Response:
        """``POST /channels/{cid}/messages/{mid}/threads``: the thread takes the message's id."""
        msg = self.messages.get(mid)
        if cid != self.world.channel_id or msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        if mid in self.world.threads:
            return error_response(400, 160004, "A thread has already been created for this message")
        body = rec.json or {}
        if not body.get("name"):
            return error_response(400, 50035, "Invalid Form Body: name")
        thread = self._new_thread(mid, cid, body)
        msg["thread"] = thread
        return json_response(thread)

    async def forum_post(self, rec: RecordedRequest, cid: str) -> web.Response:
        """``POST /channels/{forum}/threads`` with a starter ``message``: a forum post."""
        if cid != self.world.forum_id:
            return error_response(404, 10003, "Unknown Channel")
        body = rec.json or {}
        starter = body.get("message") or {}
        known = {t["id"] for t in self.world.forum_tags}
        tags = [str(t) for t in body.get("applied_tags") or []]
        if not body.get("name") or not (starter.get("content") or starter.get("embeds")):
            return error_response(400, 50035, "Invalid Form Body: name and message")
        if len(tags) > 5 or not set(tags) <= known:
            return error_response(400, 50035, "Invalid Form Body: applied_tags")
        thread = self._new_thread(snowflake(), cid, {**body, "applied_tags": tags})
        msg = self._post(thread["id"], starter, self._files(rec), id=thread["id"])
        return json_response({**thread, "message": msg})

    async def edit_channel(self, rec: RecordedRequest, cid: str) -> web.Response:
        """``PATCH /channels/{id}``: a thread's ``archived``/``locked``/``name``, a forum's
        ``available_tags`` (a tag without an id is new and gets one)."""
        body = rec.json or {}
        thread = self.world.threads.get(cid)
        if thread is not None:
            meta = thread["thread_metadata"]
            if meta["locked"] and body.get("archived") is False and "locked" not in body:
                return error_response(403, 50013, "Missing Permissions")
            for key in ("archived", "locked"):
                if key in body:
                    meta[key] = bool(body[key])
            if "name" in body:
                thread["name"] = body["name"]
            self.dispatch("THREAD_UPDATE", thread)
            return json_response(thread)
        if cid == self.world.forum_id:
            if "available_tags" in body:
                tags = [{**self.world.make_tag(t["name"]), **t} for t in body["available_tags"]]
                if len(tags) > 20 or len({t["name"].casefold() for t in tags}) < len(tags):
                    return error_response(400, 50035, "Invalid Form Body: available_tags")
                self.world.forum_tags = [{**t, "id": str(t["id"])} for t in tags]
            forum = self.world.forum()
            self.dispatch("CHANNEL_UPDATE", forum)
            return json_response(forum)
        return error_response(404, 10003, "Unknown Channel")

    async def channel_message(self, rec: RecordedRequest, cid: str, mid: str) -> web.Response:
        """GET/PATCH/DELETE ``/channels/{cid}/messages/{mid}``."""
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        if rec.method == "PATCH":
            self._apply_edit(msg, rec.json or {})
        elif rec.method == "DELETE":
            del self.messages[mid]
            return web.Response(status=204)
        return json_response(msg)

    def _files(self, rec: RecordedRequest) -> list[JSONDict]:
        return [{"id": snowflake(), "filename": f["filename"], "size": f["size"],
                 "url": f"https://cdn.invalid/{f['filename']}", "proxy_url": "",
                 "content_type": "application/octet-stream"} for f in rec.files]

    @staticmethod
    def _apply_edit(msg: JSONDict, body: JSONDict) -> None:
        for key in ("content", "embeds", "components"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            msg["flags"] = body["flags"]
        msg["flags"] = (msg.get("flags") or 0) & ~LOADING
        msg["edited_timestamp"] = _now_iso()

    # -- interactions --------------------------------------------------------------------------

    async def callback(self, rec: RecordedRequest, iid: str, token: str) -> web.Response:
        inter = self.interactions.get(iid)
        body = rec.json or {}
        if inter is None or inter.token != token:
            return error_response(404, 10062, "Unknown interaction")
        if inter.acknowledged_at is not None:
            inter.rejected.append((400, 40060))
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        if inter.sent_at is None or rec.time - inter.sent_at > self.ack_deadline:
            inter.rejected.append((404, 10062))
            return error_response(404, 10062, "Unknown interaction")
        inter.acknowledged_at = rec.time
        inter.callbacks.append(body)
        inter.events.append(("callback", body))
        kind, data = body.get("type"), body.get("data") or {}
        resource: JSONDict = {"type": kind}
        if kind in (4, 5):
            flags = (data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            msg = self._hook_message(inter, {**data, "flags": flags})
            inter.original = resource["message"] = msg
        return json_response({"interaction": {
            "id": iid, "type": inter.type, "response_message_id": (inter.original or {}).get("id"),
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL),
        }, "resource": resource})

    def _hook_message(self, inter: InteractionRecord, body: JSONDict) -> JSONDict:
        channel = inter.payload.get("channel_id") or self.world.channel_id
        msg = self.world.message(channel, self.world.bot_user, body,
                                 webhook_id=self.world.app_id, application_id=self.world.app_id)
        inter.messages[msg["id"]] = msg
        return msg

    def _interaction(self, app: str, token: str) -> InteractionRecord | None:
        if app != self.world.app_id:
            return None
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def followup(self, rec: RecordedRequest, app: str, token: str) -> web.Response:
        inter = self._interaction(app, token)
        if inter is None or inter.acknowledged_at is None:
            return error_response(404, 10015, "Unknown Webhook")
        body = rec.json or {}
        inter.followups.append(body)
        inter.events.append(("followup", body))
        original = inter.original
        if original is not None and original["flags"] & LOADING:  # first follow-up after defer
            self._apply_edit(original, {**body, "flags": original["flags"]})
            msg = original
        else:
            msg = self._hook_message(inter, body)
        msg["attachments"] = self._files(rec)
        wait = rec.query.get("wait", "").lower() in ("1", "true")
        return json_response(msg) if wait else web.Response(status=204)

    async def hook_message(self, rec: RecordedRequest, app: str, token: str,
                           mid: str) -> web.Response:
        """GET/PATCH/DELETE ``/webhooks/{app}/{token}/messages/@original|{id}``."""
        inter = self._interaction(app, token)
        if inter is None:
            return error_response(404, 10015, "Unknown Webhook")
        msg = inter.original if mid == "@original" else inter.messages.get(mid)
        if msg is None:
            return error_response(404, 10008, "Unknown Message")
        if rec.method == "PATCH":
            inter.edits.append(rec.json or {})
            inter.events.append(("edit", rec.json or {}))
            self._apply_edit(msg, rec.json or {})
        elif rec.method == "DELETE":
            inter.events.append(("delete", {"id": msg["id"]}))
            inter.messages.pop(msg["id"], None)
            if msg is inter.original:
                inter.original = None
            return web.Response(status=204)
        return json_response(msg)


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    return 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3


class FakeDiscord:
    """A fake Discord (REST + gateway) on 127.0.0.1 at a random free port."""

    def __init__(self, *, token: str = "fake-token", heartbeat_interval_ms: int = 500,
                 ack_deadline: float = 3.0) -> None:
        self.token = token
        self.world = World(token)
        self.port = 0
        self.gateway = Gateway(self.world, heartbeat_interval_ms, lambda: self.gateway_url)
        self.rest = RestApi(self.world, lambda: self.gateway_url, ack_deadline)
        self.rest.dispatch = self._dispatch_if_connected
        self.bot_user, self.user = self.world.bot_user, self.world.user
        self.guild_id, self.channel_id = self.world.guild_id, self.world.channel_id
        self.requests: list[RecordedRequest] = self.rest.requests
        self.errors: list[BaseException] = self.rest.errors  # failures of the fake itself
        self.commands = self.rest.commands  # synced commands; key None = global, else guild id
        self.posted: list[PostedMessage] = self.rest.posted
        self.interactions: dict[str, InteractionRecord] = self.rest.interactions
        self.heartbeats: list[float] = self.gateway.heartbeats  # time.monotonic() of each op 1
        self.heartbeat_acks: list[float] = self.gateway.heartbeat_acks
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        for ws in list(self.gateway.sockets):
            await ws.close(code=1001)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        await self.stop()
        if exc_type is None:
            self.check()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[FakeDiscord]:
        """Run the server on its own event loop in a daemon thread for the ``with`` block."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-discord", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
        self.check()

    def check(self) -> None:
        """Raise if the fake itself failed (a handler or a scheduled dispatch raised)."""
        if self.errors:
            raise RuntimeError(f"fake discord failed: {self.errors!r}") from self.errors[0]

    def _submit(self, coro: Coroutine[Any, Any, T]) -> None:
        """Run ``coro`` on the server loop: as a task if we are on it, else and wait for it."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("FakeDiscord is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.rest.errors.append(task.exception())  # type: ignore[arg-type]

    # -- properties ---------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def bot_mention(self) -> str:
        return f"<@{self.bot_user['id']}>"

    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    def find_requests(self, method: str, pattern: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches a glob like ``/channels/*``."""
        return [r for r in self.requests
                if r.method == method and fnmatch.fnmatchcase(r.path, pattern)]

    def replies_to(self, message_id: str) -> list[PostedMessage]:
        return [p for p in self.posted
                if str((p.body.get("message_reference") or {}).get("message_id")) == message_id]

    # -- waiting ------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll ``predicate`` (on any loop) until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(0.01)
        return result

    def wait_until(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Blocking twin of :meth:`wait_for`, for threaded use (never on the bot's loop)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(0.01)
        return result

    def _timeout_message(self, timeout: float) -> str:
        recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-8:]]
        return f"condition not met within {timeout}s; recent requests: {recent}"

    # -- gateway dispatches and controls ------------------------------------------------------

    def dispatch(self, name: str, data: JSONDict) -> None:
        """Send an arbitrary gateway dispatch event."""
        self._submit(self.gateway.dispatch(name, data))

    def _dispatch_if_connected(self, name: str, data: JSONDict) -> None:
        """The event Discord sends after a REST change (THREAD_CREATE, CHANNEL_UPDATE, ...),
        when a session is there to get it."""
        if self.gateway.current is not None:
            self.dispatch(name, json.loads(json.dumps(data)))

    # -- permissions, threads -----------------------------------------------------------------

    def deny(self, method: str, pattern: str, code: int = 50013) -> None:
        """Answer requests like ``("POST", "/channels/*/messages/*/threads")`` with 403 and
        this Discord code (50013 Missing Permissions, 50001 Missing Access)."""
        self.rest.denied.append((method, pattern, code))

    def allow_all(self) -> None:
        self.rest.denied.clear()

    @property
    def forum_id(self) -> str:
        return self.world.forum_id

    @property
    def threads(self) -> dict[str, JSONDict]:
        """Every thread and forum post, by id (channel objects of type 11)."""
        return self.world.threads

    def in_channel(self, channel_id: str) -> list[PostedMessage]:
        """What the bot posted in one channel or thread, in order."""
        return [p for p in self.posted if p.channel_id == channel_id]

    def set_thread(self, thread_id: str, *, dispatch: bool = True, **metadata: bool) -> None:
        """Change a thread as a moderator (or Discord's idle timer) would: archived, locked;
        THREAD_UPDATE goes to a connected bot unless ``dispatch`` is false (a stale cache)."""
        thread = self.world.threads[thread_id]
        thread["thread_metadata"].update(metadata)
        if dispatch:
            self._dispatch_if_connected("THREAD_UPDATE", thread)

    def send_interaction(self, name: str, options: list[JSONDict] | Mapping[str, Any] | None = None,
                         *, type: int = 2, command_type: int = 1, user: JSONDict | None = None,
                         channel_id: str | None = None, guild_id: str | None = None,
                         focused: str | None = None, resolved: JSONDict | None = None,
                         target_id: str | None = None,
                         permissions: str = ALL_PERMS) -> InteractionRecord:
        """Dispatch an application-command INTERACTION_CREATE and return its record.

        ``name`` may be ``"cmd"``, ``"cmd sub"`` or ``"cmd group sub"``; ``options`` is either raw
        option dicts or a ``{name: value}`` mapping (types inferred) for the leaf command.
        ``permissions`` is the invoking member's permission bitfield in the channel.
        """
        if self.gateway.current is None:
            raise RuntimeError("no identified gateway session: is the bot connected?")
        w = self.world
        guild_id = guild_id or w.guild_id
        channel_id = channel_id or w.channel_id
        opts = ([{"name": k, "type": _option_type(v), "value": v} for k, v in options.items()]
                if isinstance(options, Mapping) else [dict(o) for o in options or []])
        if type == 4 and opts and not focused and not any(o.get("focused") for o in opts):
            focused = opts[-1]["name"]
        for o in opts:
            if focused and o["name"] == focused:
                o["focused"] = True
        parts = name.split()
        for i, sub in reversed(list(enumerate(parts[1:], start=1))):
            opts = [{"type": 1 if i == len(parts) - 1 else 2, "name": sub, "options": opts}]
        synced = [c for g in (guild_id, None) for c in self.commands.get(g, [])]
        cmd = next((c for c in synced if c["name"] == parts[0]), None)
        data: JSONDict = {"id": cmd["id"] if cmd else snowflake(), "name": parts[0],
                          "type": command_type, "options": opts}
        if cmd and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved is not None:
            data["resolved"] = resolved
        if target_id is not None:
            data["target_id"] = target_id
        payload = {
            "id": snowflake(), "application_id": w.app_id, "type": type, "data": data,
            "token": f"tok-{snowflake()}", "version": 1, "guild_id": guild_id,
            "guild": {"id": guild_id, "locale": "en-US", "features": []},
            "channel_id": channel_id, "channel": {**w.channel(), "id": channel_id,
                                                  "permissions": ALL_PERMS},
            "member": w.member(user or w.user, permissions=permissions),
            "locale": "en-US", "guild_locale": "en-US", "app_permissions": ALL_PERMS,
            "entitlements": [], "authorizing_integration_owners": {"0": guild_id}, "context": 0,
            "attachment_size_limit": 10_485_760,
        }
        record = InteractionRecord(payload["id"], payload["token"], name, type, payload)
        self.rest.interactions[record.id] = record
        self._submit(self._send_interaction(record))
        return record

    async def _send_interaction(self, record: InteractionRecord) -> None:
        record.sent_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", record.payload)

    def send_autocomplete(self, name: str, options: list[JSONDict] | Mapping[str, Any],
                          *, focused: str | None = None, **kwargs: Any) -> InteractionRecord:
        """Dispatch a type 4 autocomplete interaction; the last option is focused by default."""
        return self.send_interaction(name, options, type=4, focused=focused, **kwargs)

    def send_message(self, content: str, *, mentions: list[JSONDict] | None = None,
                     author: JSONDict | None = None, channel_id: str | None = None) -> JSONDict:
        """Dispatch MESSAGE_CREATE from a member; ``mentions`` default to the ``<@id>``s in it."""
        w = self.world
        author = author or w.user
        msg = w.message(channel_id or w.channel_id, author, {"content": content})
        if mentions is not None:
            msg["mentions"] = mentions
        msg["member"] = {k: v for k, v in w.member(author).items() if k != "user"}
        self.rest.messages[msg["id"]] = msg
        self.dispatch("MESSAGE_CREATE", msg)
        return msg

    def _require_connection(self) -> None:
        if self.gateway.current is None or self.gateway.current.conn is None:
            raise RuntimeError("no connected gateway session: is the bot connected?")

    def drop_connection(self, code: int | None = None) -> None:
        """Kill the gateway connection abruptly (``code=None``) or close it with ``code``."""
        self._require_connection()
        self._submit(self.gateway.drop(code))

    def send_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and resumes."""
        self._require_connection()
        self._submit(self.gateway.send_op(7))

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; unless ``resumable``, the session is forgotten."""
        self._require_connection()
        self._submit(self.gateway.invalidate(resumable))
