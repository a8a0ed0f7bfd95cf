"""A small Deepgram-like live speech-to-text server, for recording sample captures.

It speaks just enough of ``wss://api.deepgram.com/v1/listen`` (see
``/work/shared/reference/client-signatures.md`` §1) that a capture of a client talking to
it looks, on the wire, like a capture of a client talking to Deepgram: the ``dg-request-id``
header on every upgrade response, ``Results`` text messages while audio flows, ``Metadata``
then close 1000 after ``CloseStream`` (or a legacy empty binary frame), and close 1011 with
the exact NET-0001 reason after the inactivity window.

The failure modes a support engineer meets, each tied to a reference tag:

* handshake rejections: 401 ``INVALID_AUTH`` without credentials, 400 ``Bad Request`` for an
  invalid query value (``language=english``, an ``encoding`` outside §1.7, a non-numeric
  ``sample_rate``/``channels``), both with ``dg-error`` and a JSON body [D-STT, D-ERR,
  GH livekit/agents#3519];
* NET-0001 (1011): no binary or text frame for ``--inactivity-timeout`` s [D-KA, D-STT];
* NET-0000 (1011): frames keep arriving but none of them is transcribable audio or a text
  message, so no response is produced for ``--response-timeout`` s (30 s, as reported when
  KeepAlive went out as *binary*: GH deepgram-dotnet-sdk#131/#133). A binary frame whose
  payload is JSON (``{"type": "KeepAlive"}``) is such a frame: it is data to the server, so
  it keeps NET-0001 away, but it is not a KeepAlive and not audio [D-KA, D-LL, §6 #3];
* DATA-0000 (1008): without ``encoding`` the server must detect a container, and the first
  audio message starts with no known container magic (RIFF/WAVE, Ogg, WebM/EBML, FLAC, MP3,
  MP4, AMR) [D-STT "raw vs containerized", D-FMT]. The reason text is the emulator's own:
  Deepgram's wire text for DATA-0000 is not confirmed (§1.2);
* 1009: ``--max-message-size`` is the ``websockets`` ``max_size``; a longer message makes
  the server library fail the connection with 1009 (§3.1, §6 #25);
* a stalled server: ``--stall-after S`` stops reading the socket S s after the upgrade (no
  pongs, no timers, no answers), as a blocked event loop would; the client's own keepalive
  ping then times out (§3.1, §6 #21).

Nothing here transcribes anything: transcripts are canned phrases, timed by the audio clock.
Every behaviour that a later recording may want to change is a command-line switch, and the
per-connection logic lives in :class:`ListenSession` so new misbehaviours can be added as
methods without touching the plumbing.

Run ``.venv/bin/python -m tools.recorder.emulator --help`` (from the repository root) for
the switches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import signal
import ssl
import sys
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .logsetup import setup_logging

log = logging.getLogger("emulator")

# Wire text observed from Deepgram (reference §1.2); rules match it byte-for-byte.
NET0001_REASON = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
NET0000_REASON = (
    "Deepgram did not provide a response message within the timeout window. "
    "See https://dpgr.am/net0000"
)
# Not confirmed wire text (§1.2 "DATA-0000: wire text not confirmed"): the identifier is
# what rules match, the sentence is the emulator's.
DATA0000_REASON = "DATA-0000: Deepgram could not decode the audio data (no supported format found)"
LISTEN_PATH = "/v1/listen"
CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
AUTH_SUBPROTOCOLS = ("token", "bearer")

# Bytes per sample for the raw encodings a client may declare; anything else (containers,
# compressed codecs) is costed as linear16 because the emulator never decodes audio.
BYTES_PER_SAMPLE = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}
# Reference §1.7: the values ``encoding`` accepts; anything else is a 400 at the handshake.
ENCODINGS = frozenset(
    {"linear16", "linear32", "flac", "alaw", "mulaw", "amr-nb", "amr-wb", "opus", "ogg-opus"}
    | {"speex", "g729"}
)
# A BCP-47-shaped tag (``en``, ``en-US``, ``pt-BR``, ``zh-Hant-TW``) or ``multi``;
# ``english`` is the reference's example of a value Deepgram rejects with 400.
LANGUAGE_TAG = re.compile(r"(?:[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*|multi)")
# Leading bytes of the containers Deepgram detects when no ``encoding`` is given.
CONTAINER_MAGIC = (b"RIFF", b"OggS", b"\x1a\x45\xdf\xa3", b"fLaC", b"ID3", b"#!AMR")

MODEL_INFO = {"name": "general-nova-3", "version": "2024-12-20.0", "arch": "nova-3"}
MODEL_UUID = "40bd3654-e622-47c4-a111-63a61b23bfe8"  # fixed fake, so captures are comparable

PHRASES = (
    "hello this is a test of the streaming endpoint",
    "the quick brown fox jumps over the lazy dog",
    "one two three four five",
    "testing testing is this thing on",
)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything a recording scenario can tune; built from the command line."""

    host: str
    port: int
    inactivity_timeout: float
    require_auth: bool
    tls_cert: str | None
    tls_key: str | None
    log_path: str | None
    ping_interval: float | None
    flush_delay: float
    results_every: float
    deflate: bool = False
    response_timeout: float = 30.0
    max_message_size: int | None = 2**20
    stall_after: float | None = None
    close_reason: str = ""  # of the normal close 1000; Deepgram sends none


@dataclass
class AudioFormat:
    """What the client declared in the query string; used only to turn bytes into seconds."""

    encoding: str
    sample_rate: int
    channels: int
    interim_results: bool
    declared: bool = True  # False: no ``encoding``, so a container must be detected

    @property
    def bytes_per_second(self) -> float:
        """Audio clock rate: Deepgram timestamps follow audio bytes, not wall-clock time."""
        width = BYTES_PER_SAMPLE.get(self.encoding, 2)
        return float(width * self.sample_rate * self.channels)

    @classmethod
    def from_path(cls, path: str) -> AudioFormat:
        """Parse ``/v1/listen?encoding=…&sample_rate=…`` with Deepgram's defaults."""
        query = parse_qs(urlsplit(path).query)

        def first(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        return cls(
            encoding=first("encoding", "linear16"),
            sample_rate=int(first("sample_rate", "16000")),
            channels=int(first("channels", "1")),
            interim_results=first("interim_results", "false").lower() == "true",
            declared="encoding" in query,
        )


def invalid_parameter(path: str) -> str | None:
    """The first query value Deepgram would reject with 400, described; None when all pass."""
    query = parse_qs(urlsplit(path).query)
    encoding = query.get("encoding", [None])[0]
    if encoding is not None and encoding not in ENCODINGS:
        return f"unsupported encoding: {encoding}"
    language = query.get("language", [None])[0]
    if language is not None and not LANGUAGE_TAG.fullmatch(language):
        return f"invalid language: {language}"
    for name in ("sample_rate", "channels"):
        value = query.get(name, [None])[0]
        if value is not None and not (value.isdigit() and int(value) > 0):
            return f"invalid {name}: {value}"
    return None


def has_container_magic(data: bytes) -> bool:
    """Does this first audio message start like a file Deepgram can identify on its own?"""
    mpeg_sync = len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # MP3/AAC
    mp4 = data[4:8] == b"ftyp"
    return data.startswith(CONTAINER_MAGIC) or mpeg_sync or mp4


def json_type_in_binary(data: bytes) -> str | None:
    """``type`` of a JSON object sent as a binary frame (a control message in the wrong
    opcode, reference §6 #3); None for anything that is not a JSON object."""
    if not data.startswith(b"{"):
        return None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return str(parsed.get("type")) if isinstance(parsed, dict) else None


def utc_now_iso() -> str:
    """Timestamps in Deepgram's ``created`` style (UTC, ISO 8601, ``Z``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Timer(Enum):
    """What ended a wait for the next client message."""

    IDLE = "NET-0001 inactivity window"
    NO_RESPONSE = "NET-0000 response window"
    STALL = "--stall-after"


@dataclass
class Clocks:
    """The loop times the server's timers run from (``asyncio`` loop clock, seconds).

    ``last_message``: any binary or text frame from the client (NET-0001 counts both).
    ``last_progress``: the later of the last server message and the last client text
    message; frames that are neither audio nor text (JSON in binary) do not move it, which
    is how a binary "KeepAlive" ends in NET-0000 (GH deepgram-dotnet-sdk#131).
    """

    last_message: float
    last_progress: float
    stall_at: float | None = None

    def next_deadline(self, config: EmulatorConfig) -> tuple[float, Timer]:
        deadlines = [
            (self.last_message + config.inactivity_timeout, Timer.IDLE),
            (self.last_progress + config.response_timeout, Timer.NO_RESPONSE),
        ]
        if self.stall_at is not None:
            deadlines.append((self.stall_at, Timer.STALL))
        return min(deadlines, key=lambda item: item[0])


class ListenSession:
    """One ``/v1/listen`` connection: receive audio and control messages, answer like Deepgram.

    The receive loop is the only place that waits, so every server timer is a deadline on
    ``recv``: client messages move the clocks (see :class:`Clocks`), protocol pings do not.
    """

    def __init__(
        self,
        ws: ServerConnection,
        request_id: str,
        config: EmulatorConfig,
        stalled: set[ServerConnection],
    ) -> None:
        self.ws = ws
        self.request_id = request_id
        self.config = config
        self.stalled = stalled  # the emulator aborts these at shutdown
        self.audio = AudioFormat.from_path(ws.request.path if ws.request else LISTEN_PATH)
        self.sha256 = hashlib.sha256()
        self.total_bytes = 0
        self.reported_bytes = 0  # audio already covered by a Results message
        self.phrase_index = 0
        self.interim_sent = False  # one interim per window when interim_results=true
        self.first_audio_seen = False
        now = asyncio.get_running_loop().time()
        stall_at = now + config.stall_after if config.stall_after is not None else None
        self.clocks = Clocks(last_message=now, last_progress=now, stall_at=stall_at)

    @property
    def total_seconds(self) -> float:
        return self.total_bytes / self.audio.bytes_per_second

    async def run(self) -> None:
        """Serve the connection until the client goes away or the stream ends."""
        log.info(
            "session %s open from %s path=%s",
            self.request_id,
            self.ws.remote_address,
            self.ws.request.path if self.ws.request else "?",
        )
        try:
            await self.serve_messages()
        except ConnectionClosed as exc:
            # A vanished client (killed process, reset) lands here with "no close frame
            # received or sent"; log it the way an operator would read it.
            log.warning("session %s: client connection closed: %s", self.request_id, exc)
        finally:
            log.info(
                "session %s done: audio=%.3fs bytes=%d close_code=%s reason=%r",
                self.request_id,
                self.total_seconds,
                self.total_bytes,
                self.ws.close_code,
                self.ws.close_reason,
            )

    async def serve_messages(self) -> None:
        """Dispatch client messages until one of them, or a timer, ends the session."""
        handlers = {
            Timer.IDLE: self.close_idle,
            Timer.NO_RESPONSE: self.close_no_response,
            Timer.STALL: self.stall,
        }
        while True:
            message = await self.next_message()
            if isinstance(message, Timer):
                await handlers[message]()
                return
            self.clocks.last_message = asyncio.get_running_loop().time()
            if isinstance(message, bytes):
                done = await self.on_binary(message)
            else:
                self.clocks.last_progress = self.clocks.last_message
                done = await self.on_text(message)
            if done:
                return

    async def next_message(self) -> str | bytes | Timer:
        """The next client message, or the timer whose deadline came first."""
        deadline, timer = self.clocks.next_deadline(self.config)
        try:
            async with asyncio.timeout_at(deadline):
                return await self.ws.recv()
        except TimeoutError:
            return timer

    async def on_binary(self, data: bytes) -> bool:
        """Audio chunk; an empty one is the legacy end-of-stream signal Deepgram still honours."""
        if not data:
            log.info("session %s: empty binary frame -> end of stream (legacy)", self.request_id)
            await self.finish("empty binary frame")
            return True
        self.sha256.update(data)
        if not self.first_audio_seen:
            self.first_audio_seen = True
            if not self.audio.declared and not has_container_magic(data):
                await self.close_undecodable(data)
                return True
        json_type = json_type_in_binary(data)
        if json_type is not None:
            # Reference §1.3/§6 #3: not a KeepAlive (that must be text) and not audio either;
            # it keeps NET-0001 away (a binary frame arrived) but produces no response.
            log.warning(
                "session %s: binary frame carrying JSON type=%r (%d bytes): not a KeepAlive, "
                "not transcribable audio",
                self.request_id,
                json_type,
                len(data),
            )
            return False
        self.total_bytes += len(data)
        await self.maybe_send_results()
        return False

    async def on_text(self, text: str) -> bool:
        """Control messages (reference §1.3); unknown ones are logged and ignored."""
        try:
            msg_type = json.loads(text).get("type")
        except (ValueError, AttributeError):
            log.warning("session %s: unparseable text message %r", self.request_id, text[:200])
            return False
        if msg_type == "KeepAlive":
            log.debug("session %s: KeepAlive (timer reset, no reply)", self.request_id)
            return False
        if msg_type == "CloseStream":
            log.info("session %s: CloseStream", self.request_id)
            await self.finish("CloseStream")
            return True
        if msg_type == "Finalize":
            log.info("session %s: Finalize", self.request_id)
            await self.flush_results(from_finalize=True)
            return False
        log.warning("session %s: ignoring text message type %r", self.request_id, msg_type)
        return False

    async def maybe_send_results(self) -> None:
        """Emit a final Results per ``results_every`` seconds of audio (interim at halves)."""
        window = int(self.config.results_every * self.audio.bytes_per_second)
        pending = self.total_bytes - self.reported_bytes
        half_way = window // 2 <= pending < window
        if self.audio.interim_results and half_way and not self.interim_sent:
            await self.send_results(self.reported_bytes, pending, is_final=False)
            self.interim_sent = True
        if pending >= window:
            await self.send_results(self.reported_bytes, window, is_final=True)
            self.reported_bytes += window
            self.interim_sent = False

    async def flush_results(self, *, from_finalize: bool = False) -> None:
        """Report whatever audio is left over, as Deepgram does on Finalize/CloseStream."""
        pending = self.total_bytes - self.reported_bytes
        if pending <= 0:
            return
        await self.send_results(
            self.reported_bytes,
            pending,
            is_final=True,
            speech_final=True,
            from_finalize=from_finalize,
        )
        self.reported_bytes += pending

    async def send_results(
        self,
        start_byte: int,
        length: int,
        *,
        is_final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """Send one ``Results`` message shaped like reference §1.4 (canned transcript)."""
        bps = self.audio.bytes_per_second
        phrase = PHRASES[self.phrase_index % len(PHRASES)]
        if is_final:
            self.phrase_index += 1
        message: dict[str, object] = {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(length / bps, 3),
            "start": round(start_byte / bps, 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": phrase, "confidence": 0.9, "words": []}]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": MODEL_INFO,
                "model_uuid": MODEL_UUID,
            },
        }
        if from_finalize:
            message["from_finalize"] = True
        await self.send_json(message)

    async def send_json(self, message: dict[str, object]) -> None:
        """Every server message is a response: it restarts the NET-0000 window."""
        await self.ws.send(json.dumps(message))
        self.clocks.last_progress = asyncio.get_running_loop().time()

    async def finish(self, why: str) -> None:
        """Normal end of stream: final Results, ``Metadata``, then close 1000 (reference §1.2)."""
        if self.config.flush_delay > 0:
            await asyncio.sleep(self.config.flush_delay)
        await self.flush_results()
        metadata: dict[str, object] = {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": self.sha256.hexdigest(),
            "created": utc_now_iso(),
            "duration": round(self.total_seconds, 3),
            "channels": self.audio.channels,
        }
        await self.send_json(metadata)
        reason = self.config.close_reason
        extra = f" reason={reason!r}" if reason else ""  # default: the same line as always
        log.info("session %s: Metadata sent after %s; closing 1000%s", self.request_id, why, extra)
        await self.ws.close(CLOSE_NORMAL, self.config.close_reason)

    async def close_idle(self) -> None:
        """NET-0001: nothing arrived within the inactivity window -> 1011 with the exact reason."""
        log.warning(
            "session %s: no audio or text message for %.1fs -> close 1011 NET-0001",
            self.request_id,
            self.config.inactivity_timeout,
        )
        await self.ws.close(CLOSE_INTERNAL_ERROR, NET0001_REASON)

    async def close_no_response(self) -> None:
        """NET-0000: frames arrived, but nothing to answer for the response window."""
        log.warning(
            "session %s: no response message for %.1fs (no transcribable audio, no text "
            "message) -> close 1011 NET-0000",
            self.request_id,
            self.config.response_timeout,
        )
        await self.ws.close(CLOSE_INTERNAL_ERROR, NET0000_REASON)

    async def close_undecodable(self, data: bytes) -> None:
        """DATA-0000: container detection found no known format in the first audio bytes."""
        log.warning(
            "session %s: no encoding declared and the first audio message (%d bytes, "
            "starts %r) has no known container magic -> close 1008 DATA-0000",
            self.request_id,
            len(data),
            data[:16],
        )
        await self.ws.close(CLOSE_POLICY_VIOLATION, DATA0000_REASON)

    async def stall(self) -> None:
        """Stop reading the socket, as a blocked server would: no pongs, no timers, no close.

        The kernel keeps ACKing (and buffering) what the client sends; nothing is answered
        until the client gives up or the emulator shuts down (which aborts the connection).
        """
        log.warning(
            "session %s: stalling after %.1fs: reading paused, no more answers",
            self.request_id,
            self.config.stall_after or 0.0,
        )
        self.ws.transport.pause_reading()
        self.stalled.add(self.ws)
        try:
            await self.ws.wait_closed()
        finally:
            self.stalled.discard(self.ws)


class DeepgramEmulator:
    """Handshake hooks plus the connection handler, sharing one request id per connection."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.request_ids: weakref.WeakKeyDictionary[ServerConnection, str] = (
            weakref.WeakKeyDictionary()
        )
        self.stalled: set[ServerConnection] = set()

    def request_id(self, connection: ServerConnection) -> str:
        """Deepgram issues a request id for every upgrade attempt, accepted or not."""
        return self.request_ids.setdefault(connection, str(uuid.uuid4()))

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Reject what Deepgram would reject before the upgrade: wrong path, missing auth,
        then invalid query values (auth first: the order real Deepgram uses is not known)."""
        request_id = self.request_id(connection)
        path = urlsplit(request.path).path
        if path != LISTEN_PATH:
            return self.json_error(connection, 404, "NOT_FOUND", "Not found.", request_id)
        if self.config.require_auth and not has_credentials(request):
            return self.json_error(
                connection, 401, "INVALID_AUTH", "Invalid credentials.", request_id
            )
        problem = invalid_parameter(request.path)
        if problem is not None:
            # Shape of reference/errors: err_code "Bad Request", err_msg "Bad Request: …";
            # the wording after the prefix is the emulator's.
            message = f"Bad Request: {problem}"
            return self.json_error(connection, 400, "Bad Request", message, request_id)
        return None

    def process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        """``dg-request-id`` (and model headers on success) go on every upgrade response."""
        response.headers["dg-request-id"] = self.request_id(connection)
        if response.status_code == 101:
            response.headers["dg-model-name"] = MODEL_INFO["name"]
            response.headers["dg-model-uuid"] = MODEL_UUID
        return response

    def json_error(
        self,
        connection: ServerConnection,
        status: int,
        err_code: str,
        err_msg: str,
        request_id: str,
    ) -> Response:
        """Deepgram-style handshake error: JSON body and the same text in ``dg-error``."""
        body = json.dumps({"err_code": err_code, "err_msg": err_msg, "request_id": request_id})
        response = connection.respond(status, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-error"] = err_msg
        log.info("request %s rejected: %d %s (%s)", request_id, status, err_code, err_msg)
        return response

    async def handler(self, ws: ServerConnection) -> None:
        await ListenSession(ws, self.request_id(ws), self.config, self.stalled).run()

    def abort_stalled(self) -> None:
        """At shutdown a stalled session cannot close politely (it reads nothing): abort."""
        for ws in list(self.stalled):
            log.info("aborting stalled connection from %s", ws.remote_address)
            ws.transport.abort()


def has_credentials(request: Request) -> bool:
    """Header auth or the browser subprotocol form (reference §1.6); the key is not checked."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith(("Token ", "Bearer ")) and len(auth.split(" ", 1)[1].strip()) > 0:
        return True
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    protocols = [p.strip().lower() for p in offered.split(",")]
    return len(protocols) >= 2 and protocols[0] in AUTH_SUBPROTOCOLS


def select_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """Echo ``token``/``bearer`` like Deepgram's 101 does for browser-style auth."""
    for protocol in offered:
        if protocol.lower() in AUTH_SUBPROTOCOLS:
            return protocol
    return None


def server_ssl_context(config: EmulatorConfig) -> ssl.SSLContext | None:
    """TLS only when both a cert and a key were given."""
    if not (config.tls_cert and config.tls_key):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def serve_until_signalled(config: EmulatorConfig) -> None:
    """Run until SIGINT/SIGTERM so the recorder can stop us cleanly between scenarios."""
    emulator = DeepgramEmulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        emulator.handler,
        config.host,
        config.port,
        process_request=emulator.process_request,
        process_response=emulator.process_response,
        ssl=server_ssl_context(config),
        select_subprotocol=select_subprotocol,
        # Deepgram does not negotiate permessage-deflate; --deflate exists so captures can
        # show what compressed frames look like to the engine.
        compression="deflate" if config.deflate else None,
        ping_interval=config.ping_interval,
        max_size=config.max_message_size,
    ):
        scheme = "wss" if config.tls_cert else "ws"
        log.info("listening on %s://%s:%d%s", scheme, config.host, config.port, LISTEN_PATH)
        # The recorder waits for this line before it starts capturing.
        print(f"listening on {config.host}:{config.port}", flush=True)
        await stop.wait()
        emulator.abort_stalled()
    log.info("stopped")


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.21")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--inactivity-timeout",
        type=float,
        default=10.0,
        help="seconds with neither audio nor text before close 1011 NET-0001 (default 10)",
    )
    parser.add_argument(
        "--response-timeout",
        type=float,
        default=30.0,
        help="seconds without a response to give (no transcribable audio, no text message) "
        "before close 1011 NET-0000 (default 30)",
    )
    parser.add_argument(
        "--no-auth",
        dest="require_auth",
        action="store_false",
        help="accept upgrades without credentials instead of answering 401 INVALID_AUTH",
    )
    parser.add_argument("--tls-cert", help="PEM certificate; with --tls-key serves wss://")
    parser.add_argument("--tls-key", help="PEM private key")
    parser.add_argument("--log", dest="log_path", help="DEBUG log file (default stderr)")
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=0,
        help="server-initiated WebSocket pings every N s; 0 (default) sends none",
    )
    parser.add_argument(
        "--flush-delay",
        type=float,
        default=0.1,
        help="seconds between CloseStream/empty frame and the final messages (default 0.1)",
    )
    parser.add_argument(
        "--results-every",
        type=float,
        default=1.0,
        help="seconds of audio per final Results message (default 1.0)",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="accept permessage-deflate when the client offers it (Deepgram does not)",
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=2**20,
        help="largest incoming message in bytes (websockets max_size; longer -> close 1009; "
        "default 1 MiB, the library default: Deepgram's own limit is not documented)",
    )
    parser.add_argument(
        "--stall-after",
        type=float,
        help="stop reading each connection this many seconds after the upgrade (no pongs)",
    )
    parser.add_argument(
        "--close-reason",
        default="",
        help="reason text of the normal close 1000 after CloseStream (default none, as "
        "Deepgram); any text, e.g. markup a report must show as text",
    )
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        inactivity_timeout=args.inactivity_timeout,
        require_auth=args.require_auth,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        log_path=args.log_path,
        ping_interval=args.ping_interval or None,
        flush_delay=args.flush_delay,
        results_every=args.results_every,
        deflate=args.deflate,
        response_timeout=args.response_timeout,
        max_message_size=args.max_message_size,
        stall_after=args.stall_after,
        close_reason=args.close_reason,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    setup_logging(config.log_path)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_signalled(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
