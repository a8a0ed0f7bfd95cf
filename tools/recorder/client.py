"""A scripted Deepgram-style streaming client, for recording sample captures.

It behaves like a typical ``websockets``-based live-transcription client: it connects from
a fixed source address, sends ``Authorization: Token …`` (an obviously fake key), streams
16 kHz linear16 mono "audio" (a quiet sine) in 100 ms chunks paced in real time, and reads
server messages concurrently. What it does over time is a list of steps on the command line,
so one program can record a clean session, an idle timeout or a crash mid-stream:

    audio:SECONDS            stream audio in real time
    keepalive:SECONDS[:K]    pause audio, sending {"type": "KeepAlive"} every K s (default 3)
    keepalive-binary:S[:K]   the same KeepAlive JSON, wrongly sent in a BINARY frame
    bad-audio:SECONDS        stream 100 ms chunks that are not audio (an HTML error page)
    big:BYTES                send one binary message of BYTES bytes of audio at once
    silence:SECONDS          send nothing at all
    closestream[:TIMEOUT]    send {"type": "CloseStream"} and wait for the server's close
    empty[:TIMEOUT]          send a zero-length binary frame (legacy end of stream) and wait
                             (empty:0 carries on at once, as a buggy app would)
    finalize                 send {"type": "Finalize"}
    text[:GAP]               send each --text message as one text frame, in order, GAP s
                             apart (default 0.1): free text a report must show, not run
    wait-close[:TIMEOUT]     send nothing and wait until the server closes
    close[:CODE]             close from the client side (default 1000)
    close-and-drop[:CODE]    send a close frame, then reset the TCP connection at once
                             (SO_LINGER 0 -> RST) without waiting for the server's close

Example: ``client.py audio:3 keepalive:7:3 audio:2 closestream``.
``--param language=english`` / ``--drop-param encoding`` edit the URL's query string, so one
URL from the recorder can become a rejected or an encoding-less request. ``--subprotocol``
(repeatable) offers ``Sec-WebSocket-Protocol`` entries, e.g. the browser form of Deepgram auth
``token, <key>`` (reference §1.6); ``--text`` (repeatable) gives the ``text`` step its messages.
Both are this client's only (``node/client.mjs`` has neither).

The ``websockets`` DEBUG log (every frame, the handshake headers, the close handshake) goes
to ``--log`` with UTC timestamps, because those lines are what a support ticket attaches.
With ``--keylog`` the TLS session secrets are written in NSS key log format so the capture
can be decrypted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from .logsetup import setup_logging

log = logging.getLogger("client")

DEFAULT_URL = (
    "ws://127.0.0.21:8080/v1/listen?encoding=linear16&sample_rate=16000&channels=1&model=nova-3"
)
FAKE_TOKEN = "dg_test_0123456789abcdef"  # obviously fake; never a real key
SAMPLE_RATE = 16000
CHUNK_SECONDS = 0.1  # 100 ms -> 3200 bytes of linear16 mono at 16 kHz
TONE_HZ = 440.0
TONE_AMPLITUDE = 600  # quiet: about -35 dBFS
# What "bad audio" is: a saved error page streamed as if it were the recording, the classic
# not-audio-at-all input behind DATA-0000 (reference §1.2, §6 #7).
NOT_AUDIO = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    b"</body></html>\n"
)


@dataclass(frozen=True)
class Step:
    """One scripted action; ``seconds``/``every``/``code`` are used by the kinds that need them."""

    kind: str
    seconds: float = 0.0
    every: float = 3.0
    code: int = 1000
    size: int = 0
    gap: float = 0.1


STEP_KINDS = {
    "audio",
    "keepalive",
    "keepalive-binary",
    "bad-audio",
    "big",
    "silence",
    "closestream",
    "empty",
    "finalize",
    "text",
    "wait-close",
    "close",
    "close-and-drop",
}


def parse_step(text: str) -> Step:
    """``kind[:a[:b]]`` -> Step; raises ValueError with a readable message."""
    kind, *args = text.split(":")
    if kind not in STEP_KINDS:
        raise ValueError(f"unknown step {kind!r} (choose from {', '.join(sorted(STEP_KINDS))})")
    nums = [float(a) for a in args]
    if kind in ("close", "close-and-drop"):
        return Step(kind, code=int(nums[0]) if nums else 1000)
    if kind in ("keepalive", "keepalive-binary"):
        return Step(kind, seconds=nums[0], every=nums[1] if len(nums) > 1 else 3.0)
    if kind == "big":
        return Step(kind, size=int(nums[0]))
    if kind == "text":
        return Step(kind, gap=nums[0] if nums else 0.1)
    default_wait = 30.0 if kind in ("closestream", "empty", "wait-close") else 0.0
    return Step(kind, seconds=nums[0] if nums else default_wait)


class AudioSource:
    """Endless quiet sine, cut into fixed-size linear16 chunks (phase-continuous)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, chunk_seconds: float = CHUNK_SECONDS):
        self.sample_rate = sample_rate
        self.samples_per_chunk = round(sample_rate * chunk_seconds)
        self.position = 0

    def next_chunk(self) -> bytes:
        return self.next_samples(self.samples_per_chunk)

    def next_samples(self, count: int) -> bytes:
        step = 2 * math.pi * TONE_HZ / self.sample_rate
        start = self.position
        samples = (round(TONE_AMPLITUDE * math.sin(step * (start + i))) for i in range(count))
        self.position += count
        return struct.pack(f"<{count}h", *samples)


def not_audio_chunk(size: int) -> bytes:
    """``size`` bytes of the error page, repeated: text, no audio container, no PCM."""
    return (NOT_AUDIO * (size // len(NOT_AUDIO) + 1))[:size]


class ScriptedClient:
    """Runs the steps against an open connection while a reader task logs what comes back."""

    def __init__(
        self, ws: ClientConnection, steps: list[Step], texts: tuple[str, ...] = ()
    ) -> None:
        self.ws = ws
        self.steps = steps
        self.texts = texts  # what the ``text`` step sends (``--text``)
        self.audio = AudioSource()
        self.reader: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self.reader = asyncio.create_task(self.read_messages())
        handlers: dict[str, Callable[[Step], Coroutine[Any, Any, None]]] = {
            "audio": self.stream_audio,
            "keepalive": self.pause_with_keepalive,
            "keepalive-binary": self.pause_with_keepalive,
            "bad-audio": self.stream_audio,
            "big": self.send_big,
            "silence": self.silence,
            "closestream": self.close_stream,
            "empty": self.send_empty,
            "finalize": self.finalize,
            "text": self.send_texts,
            "wait-close": self.wait_close,
            "close": self.close,
            "close-and-drop": self.close_and_drop,
        }
        try:
            for step in self.steps:
                log.info("step %s", step)
                await handlers[step.kind](step)
        except ConnectionClosed as exc:
            log.warning("send failed, connection closed: %s", exc)
        await self.wait_reader(timeout=5.0)

    async def read_messages(self) -> None:
        """Log every server message in one line; Results by transcript, others by type."""
        try:
            async for message in self.ws:
                log.info("received %s", summarize(message))
        except ConnectionClosed as exc:
            log.warning("reader: %s", exc)
        log.info("reader done: %s", describe_close(self.ws))

    async def stream_audio(self, step: Step) -> None:
        """Real-time pacing against a deadline, so 30 chunks really take ~3 s (no drift).

        ``bad-audio`` paces the same way but its chunks are an error page, not PCM.
        """
        loop = asyncio.get_running_loop()
        chunks = round(step.seconds / CHUNK_SECONDS)
        deadline = loop.time()
        for _ in range(chunks):
            chunk = self.audio.next_chunk()
            await self.ws.send(chunk if step.kind == "audio" else not_audio_chunk(len(chunk)))
            deadline += CHUNK_SECONDS
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def pause_with_keepalive(self, step: Step) -> None:
        """The documented way to go quiet: a text KeepAlive every K s, no audio.

        ``keepalive-binary`` sends the same JSON bytes with the binary opcode, the bug of
        old .NET/Go SDKs (reference §1.3, GH deepgram-dotnet-sdk#131, deepgram-go-sdk#181).
        """
        loop = asyncio.get_running_loop()
        text = json.dumps({"type": "KeepAlive"})
        message: str | bytes = text.encode() if step.kind == "keepalive-binary" else text
        end = loop.time() + step.seconds
        next_keepalive = loop.time() + step.every
        while next_keepalive < end:
            await asyncio.sleep(max(0.0, next_keepalive - loop.time()))
            await self.ws.send(message)
            log.info("sent KeepAlive as %s", "binary" if isinstance(message, bytes) else "text")
            next_keepalive += step.every
        await asyncio.sleep(max(0.0, end - loop.time()))

    async def send_big(self, step: Step) -> None:
        """One oversized message (a whole recording in one send), e.g. to meet ``max_size``."""
        payload = self.audio.next_samples(step.size // 2)
        log.info("sending one binary message of %d bytes", len(payload))
        await self.ws.send(payload)

    async def silence(self, step: Step) -> None:
        await asyncio.sleep(step.seconds)

    async def close_stream(self, step: Step) -> None:
        await self.ws.send(json.dumps({"type": "CloseStream"}))
        log.info("sent CloseStream; waiting for the server to close")
        await self.wait_reader(step.seconds)

    async def send_empty(self, step: Step) -> None:
        """``empty:0`` goes straight on, like an app whose recorder emitted an empty chunk
        mid-stream (iOS Safari, reference §1.3); otherwise wait for the server's close."""
        await self.ws.send(b"")
        if step.seconds <= 0:
            log.info("sent empty binary frame; carrying on")
            return
        log.info("sent empty binary frame; waiting for the server to close")
        await self.wait_reader(step.seconds)

    async def finalize(self, step: Step) -> None:
        await self.ws.send(json.dumps({"type": "Finalize"}))

    async def send_texts(self, step: Step) -> None:
        """Each ``--text`` message verbatim in its own text frame: arbitrary application text
        (markup, a pasted key) that a report must display as text and redact, never run."""
        for i, text in enumerate(self.texts):
            if i:
                await asyncio.sleep(step.gap)
            await self.ws.send(text)
            log.info("sent text message %d of %d (%d bytes)", i + 1, len(self.texts), len(text))

    async def wait_close(self, step: Step) -> None:
        log.info("waiting up to %.1fs for the server to close", step.seconds)
        await self.wait_reader(step.seconds)

    async def close(self, step: Step) -> None:
        await self.ws.close(step.code)

    async def close_and_drop(self, step: Step) -> None:
        """A close frame, then an immediate RST: what an app that calls ``close()`` and exits
        (or a socket closed with ``SO_LINGER`` 0) puts on the wire; the server's close reply
        can only meet a dead socket."""
        self.ws.protocol.send_close(step.code)
        for data in self.ws.protocol.data_to_send():
            self.ws.transport.write(data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while self.ws.transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.001)  # the close frame must reach the kernel first
        sock = self.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        log.info("sent close %d; resetting the TCP connection without waiting", step.code)
        self.ws.transport.abort()

    async def wait_reader(self, timeout: float) -> None:
        """The reader ends when the connection is closed; give up after ``timeout``."""
        if self.reader is None or self.reader.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), timeout)
        except TimeoutError:
            log.warning("server did not close within %.1fs", timeout)


def summarize(message: str | bytes) -> str:
    """Short, greppable description of a server message."""
    if isinstance(message, bytes):
        return f"binary {len(message)} bytes"
    try:
        data = json.loads(message)
    except ValueError:
        return f"text {message[:120]!r}"
    kind = data.get("type")
    if kind == "Results":
        alt = data["channel"]["alternatives"][0]
        return (
            f"Results start={data['start']} duration={data['duration']} "
            f"is_final={data['is_final']} transcript={alt['transcript']!r}"
        )
    return f"{kind} {message[:200]}"


def describe_close(ws: ClientConnection) -> str:
    """Who sent which close frame, in the terms a support engineer asks about."""
    rcvd = ws.protocol.close_rcvd
    sent = ws.protocol.close_sent
    return (
        f"close received={rcvd.code if rcvd else None} {rcvd.reason if rcvd else ''!r} "
        f"sent={sent.code if sent else None} {sent.reason if sent else ''!r} "
        f"received_first={ws.protocol.close_rcvd_then_sent}"
    )


def client_ssl_context(cafile: str | None, keylog: str | None) -> ssl.SSLContext:
    """Verify against the recording's self-signed CA and, if asked, dump NSS key log lines."""
    context = ssl.create_default_context(cafile=cafile)
    if keylog:
        context.keylog_filename = keylog
    return context


async def run_client(args: argparse.Namespace, steps: list[Step]) -> None:
    """Connect (from ``--bind``, optionally to ``--connect-host``) and run the script."""
    kwargs: dict[str, Any] = {"local_addr": (args.bind, 0)}
    url = edit_query(args.url, args.param, args.drop_param)
    if args.connect_host:
        # The URL keeps the public host name (Host header, SNI); TCP goes to this address.
        kwargs["host"] = args.connect_host
        kwargs["port"] = urlsplit(url).port or (443 if url.startswith("wss") else 80)
    if url.startswith("wss"):
        kwargs["ssl"] = client_ssl_context(args.cafile, args.keylog)
    headers = {} if args.no_auth else {"Authorization": f"Token {args.token}"}
    async with connect(
        url,
        additional_headers=headers,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout or None,
        close_timeout=args.close_timeout,
        # websockets >= 15 follows HTTP(S)_PROXY from the environment; recordings stay on loopback.
        proxy=None,
        subprotocols=[Subprotocol(p) for p in args.subprotocol] or None,
        **kwargs,
    ) as ws:
        local = ws.local_address
        log.info("connected from %s:%s to %s", local[0], local[1], ws.remote_address)
        # The recorder waits for this line (e.g. to kill us a known time after the upgrade).
        print(f"open {local[0]}:{local[1]}", flush=True)
        await ScriptedClient(ws, steps, tuple(args.text)).run()
    log.info("finished: %s", describe_close(ws))
    print("closed", flush=True)


def edit_query(url: str, params: list[str], drop: list[str]) -> str:
    """``--param name=value`` replaces or adds a query value; ``--drop-param`` removes one."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in drop]
    for item in params:
        name, _, value = item.partition("=")
        query = [(k, v) for k, v in query if k != name] + [(name, value)]
    return urlunsplit(parts._replace(query=urlencode(query, safe=",")))


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[Step]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("steps", nargs="+", help="see module docstring, e.g. audio:3 closestream")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--bind", default="127.0.0.11", help="source address (default 127.0.0.11)")
    parser.add_argument("--connect-host", help="TCP destination if it differs from the URL host")
    parser.add_argument("--token", default=FAKE_TOKEN, help="sent as 'Authorization: Token …'")
    parser.add_argument("--no-auth", action="store_true", help="send no Authorization header")
    parser.add_argument("--cafile", help="CA/self-signed cert to trust for wss://")
    parser.add_argument("--keylog", help="write TLS secrets here (NSS key log format)")
    parser.add_argument("--log", help="DEBUG log file (default stderr)")
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=20.0,
        help="client WebSocket pings every N s; 0 disables (default 20, as websockets)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        help="give up (close 1011 'keepalive ping timeout') when a pong takes longer than "
        "N s; 0 waits forever (default 20, as websockets)",
    )
    parser.add_argument(
        "--close-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the server's close / TCP close (default 10, as websockets)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a query parameter of --url (repeatable), e.g. language=english",
    )
    parser.add_argument(
        "--drop-param",
        action="append",
        default=[],
        metavar="NAME",
        help="remove a query parameter of --url (repeatable), e.g. encoding",
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer this Sec-WebSocket-Protocol entry (repeatable, in order), e.g. "
        "--subprotocol token --subprotocol KEY for the browser form of auth",
    )
    parser.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="MESSAGE",
        help="a message for the 'text' step, sent verbatim as one text frame (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        steps = [parse_step(s) for s in args.steps]
    except (ValueError, IndexError) as exc:
        parser.error(str(exc))
    return args, steps


def rejected(exc: InvalidStatus) -> int:
    """A refused upgrade (or CONNECT) is a result worth recording, not a crash."""
    response = exc.response
    log.error("%s; body=%r", exc, response.body.decode(errors="replace"))
    print(f"rejected {response.status_code}", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    args, steps = parse_args(argv)
    setup_logging(args.log)
    try:
        asyncio.run(run_client(args, steps))
    except InvalidStatus as exc:
        return rejected(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
