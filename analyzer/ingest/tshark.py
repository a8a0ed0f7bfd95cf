"""The only place that starts tshark.

tshark does the dissection (TCP reassembly, HTTP, TLS decryption, WebSocket framing and
permessage-deflate); we ask it for a fixed set of fields, one line per packet, and stream
that text into polars in chunks while tshark is still running, so parsing overlaps
dissection. Per-packet Python objects never exist.

Facts that shape the command (verified on tshark 4.0.17):
- Several WebSocket frames in one packet come out as one line with each field's values
  joined by the aggregator; values are *not* escaped, so the aggregator is a control
  character (0x1f) that JSON text and HTTP headers cannot contain unescaped.
- Tabs, CR and LF inside values are printed as `\\t`, `\\r`, `\\n`, so one line is one packet.
- `tcp.reassemble_out_of_order` is off by default; without it out-of-order segments hide
  frames. The `websocket_tcp` heuristic recovers sessions whose handshake was not captured.
- Display-filter sets are comma separated (`{1, 2}`): 4.0 rejects the whitespace form.
- A port owned by another dissector (pgsql on 5432, x11 on 6012, ...) hides an HTTP
  upgrade on it, so every pass decodes such ports as HTTP (`foreign_ports`).

Two targeted passes follow only when the first finds a reason (see ingest/capture.py):
streams to re-read as WebSocket (`fields_command(recover=...)`), and the payloads of small
binary frames (`payload_command`).
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl

from analyzer.errors import InputError

AGGREGATOR = "\x1f"
MIN_VERSION = (3, 6, 0)
CHUNK_BYTES = 16 << 20

INSTALL_HINT = (
    "install it: Debian/Ubuntu `sudo apt-get install tshark`, "
    "macOS `brew install wireshark`, Windows: the Wireshark installer, then add its "
    "folder to PATH; or point --tshark / WSDOCTOR_TSHARK at the binary"
)

# column name -> tshark field. Order is the output order.
FIELDS: dict[str, str] = {
    "frame_no": "frame.number",
    "ts": "frame.time_epoch",
    "file_off": "frame.file_off",
    "frame_len": "frame.len",
    "cap_len": "frame.cap_len",
    "ip_src": "ip.src",
    "ip_dst": "ip.dst",
    "ip6_src": "ipv6.src",
    "ip6_dst": "ipv6.dst",
    "ttl": "ip.ttl",
    "hlim": "ipv6.hlim",
    "ip_id": "ip.id",
    "stream": "tcp.stream",
    "sport": "tcp.srcport",
    "dport": "tcp.dstport",
    "tcp_len": "tcp.len",
    "tcp_flags": "tcp.flags",
    "retransmission": "tcp.analysis.retransmission",
    "lost_segment": "tcp.analysis.lost_segment",
    "ack_lost_segment": "tcp.analysis.ack_lost_segment",
    "out_of_order": "tcp.analysis.out_of_order",
    "zero_window": "tcp.analysis.zero_window",
    "keep_alive": "tcp.analysis.keep_alive",
    "http_method": "http.request.method",
    "http_uri": "http.request.uri",
    "http_req_headers": "http.request.line",
    "http_status": "http.response.code",
    "http_phrase": "http.response.phrase",
    "http_resp_headers": "http.response.line",
    "http_request_in": "http.request_in",
    "http_body": "http.file_data",
    "tls_sni": "tls.handshake.extensions_server_name",
    "tls_content_type": "tls.record.content_type",
    "tls_alert": "tls.alert_message.desc",
    "tls_cert": "tls.handshake.certificate",
    "ws_fin": "websocket.fin",
    "ws_rsv": "websocket.rsv",
    "ws_opcode": "websocket.opcode",
    "ws_mask": "websocket.mask",
    "ws_len7": "websocket.payload_length",
    "ws_len16": "websocket.payload_length_ext_16",
    "ws_len64": "websocket.payload_length_ext_64",
    "ws_text": "websocket.payload.text",
    "ws_close_code": "websocket.payload.close.status_code",
    "ws_close_reason": "websocket.payload.close.reason",
    "ws_decompress_failed": "websocket.decompression.failed.expert",
}

# The targeted payload pass (`payload_command`): tshark's `data.data` is the unmasked
# payload of a binary message that no subdissector claimed (decompressed under
# permessage-deflate), one occurrence per whole message in tree order.
PAYLOAD_FIELDS: dict[str, str] = {"frame_no": "frame.number", "ws_binary": "data.data"}
# One argv string may not exceed 128 KiB on Linux; a longer frame list becomes this filter,
# which keeps the same packets (the candidates are defined by these very fields).
SMALL_BINARY_FILTER = (
    "websocket.opcode == 2 && websocket.fin == 1"
    " && websocket.payload_length >= 2 && websocket.payload_length <= 125"
)
MAX_FILTER_CHARS = 100_000

# Port owners that stay: HTTP carries the upgrade, TLS wss://, WebSocket itself, and SOCKS
# and HTTP/2 tunnel them. The ports of every other owner are read as HTTP (`foreign_ports`).
PORT_OWNERS_KEPT = frozenset({"http", "http2", "tls", "ssl", "websocket", "socks"})

# Packets worth a row: anything carrying payload or a TCP state change. Pure ACKs are
# the bulk of a capture and say nothing a rule needs.
DISPLAY_FILTER = (
    "tcp.len > 0 || tcp.flags.syn == 1 || tcp.flags.fin == 1 || tcp.flags.reset == 1"
    " || tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment"
    " || tcp.analysis.zero_window || tcp.analysis.keep_alive"
)


@dataclass(frozen=True)
class Tshark:
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


@dataclass
class RunResult:
    """What one tshark run produced besides the rows: its verdict on the file."""

    returncode: int
    stderr_lines: list[str] = field(default_factory=list)


def find_tshark(explicit: str | None = None) -> Tshark:
    """Locate tshark (flag > WSDOCTOR_TSHARK > pyshark's search) and check its version."""
    return _probe(explicit or os.environ.get("WSDOCTOR_TSHARK") or _pyshark_search())


def _pyshark_search() -> str:
    from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path

    try:
        return get_process_path()
    except TSharkNotFoundException:
        raise InputError("tshark was not found", source="tshark", hint=INSTALL_HINT) from None


@lru_cache(maxsize=4)
def _probe(path: str) -> Tshark:
    resolved = shutil.which(path) or path
    if not (os.path.isfile(resolved) and os.access(resolved, os.X_OK)):
        raise InputError("not an executable tshark", source=path, hint=INSTALL_HINT)
    version = _version_of(resolved)
    if version < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        have = ".".join(map(str, version))
        raise InputError(
            f"tshark {have} is too old (need >= {wanted})", source=path, hint=INSTALL_HINT
        )
    return Tshark(resolved, version)


def _version_of(path: str) -> tuple[int, int, int]:
    # pyshark's get_tshark_version(p) runs `dirname(p)/tshark -v`: exact only for a binary
    # named tshark. A renamed build (tshark-4.2) is asked directly, the same way.
    from pyshark.tshark.tshark import TSharkVersionException, get_tshark_version

    try:
        if os.path.basename(path) in ("tshark", "tshark.exe"):
            parsed = get_tshark_version(path)
            return (parsed.major, parsed.minor, parsed.micro)
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30).stdout
        first = out.splitlines()[0] if out else ""
        numbers = next(w for w in first.split() if w[:1].isdigit())
        major, minor, micro = (int(p) for p in numbers.split(".")[:3])
        return (major, minor, micro)
    except (
        OSError,
        subprocess.SubprocessError,
        TSharkVersionException,
        StopIteration,
        ValueError,
    ) as exc:
        raise InputError(
            f"cannot run `{path} -v`: {exc}", source="tshark", hint=INSTALL_HINT
        ) from None


def fields_command(
    capture: Path | str,
    keylog: Path | str | None = None,
    tshark: Tshark | None = None,
    recover: dict[int, list[int]] | None = None,
) -> list[str]:
    """The exact argv the engine runs; the benchmark times it alone.

    `recover` maps TCP streams that the first pass left undecoded to their ports: the
    second pass decodes those ports as WebSocket (Decode As) and keeps only those streams.
    That is how a capture started after the handshake on a port another dissector owns
    (8080 is HTTP's) still yields its frames.
    """
    display = DISPLAY_FILTER
    if recover:
        streams = ", ".join(map(str, sorted(recover)))
        display = f"({DISPLAY_FILTER}) && tcp.stream in {{{streams}}}"
    return _command(capture, keylog, tshark, recover, display, FIELDS)


def payload_command(
    capture: Path | str,
    frames: list[int],
    keylog: Path | str | None = None,
    tshark: Tshark | None = None,
    recover: dict[int, list[int]] | None = None,
) -> list[str]:
    """argv of the targeted pass: the unmasked payloads of the given packets' binary frames.

    Only packets the first pass saw carrying a small binary frame are asked for, so the
    output stays tiny; tshark must still dissect the whole file (TCP reassembly), which is
    why the caller runs this only when such frames exist. Set elements are comma
    separated: tshark 4.0 rejects the whitespace-only form 3.6 deprecated.
    """
    display = f"frame.number in {{{', '.join(map(str, sorted(frames)))}}}"
    if len(display) > MAX_FILTER_CHARS:
        display = SMALL_BINARY_FILTER
    return _command(capture, keylog, tshark, recover, display, PAYLOAD_FIELDS)


def _command(
    capture: Path | str,
    keylog: Path | str | None,
    tshark: Tshark | None,
    recover: dict[int, list[int]] | None,
    display: str,
    fields: dict[str, str],
) -> list[str]:
    """Dissection options shared by every pass, so all passes see the same frames."""
    found = tshark or find_tshark()
    binary = found.path
    flags = [
        "-n", "-Q",
        "-o", "tcp.desegment_tcp_streams:TRUE",
        "-o", "tcp.reassemble_out_of_order:TRUE",
        "-o", "frame.show_file_off:TRUE",
        "-o", "websocket.decompress:TRUE",
        "--enable-heuristic", "websocket_tcp",
    ]  # fmt: skip
    recovered = sorted({port for pair in (recover or {}).values() for port in pair})
    as_http = sorted(set(foreign_ports(found)) - set(recovered))
    flags += [arg for port in as_http for arg in ("-d", f"tcp.port=={port},http")]
    flags += [arg for port in recovered for arg in ("-d", f"tcp.port=={port},websocket")]
    if keylog is not None:
        flags += ["-o", f"tls.keylog_file:{keylog}"]
    output = ["-T", "fields", "-E", "separator=/t", "-E", "quote=n", "-E", "occurrence=a",
              "-E", f"aggregator={AGGREGATOR}"]  # fmt: skip
    names = [arg for name in fields.values() for arg in ("-e", name)]
    return [binary, "-r", str(capture), *flags, "-Y", display, *output, *names]


def foreign_ports(tshark: Tshark) -> tuple[int, ...]:
    """TCP ports this tshark gives to a dissector WebSocket cannot ride on.

    A dissector that owns a port takes every stream on it before any heuristic: pgsql on
    5432, x11 on 6012 or cops on 2126 read an HTTP upgrade as their own protocol (or wait
    for a PDU that never completes), so the session vanished. Every pass decodes these
    ports as HTTP instead (Decode As, only in the TCP port table: GTP over UDP or any
    other use of those dissectors is untouched); HTTP shows nothing for their real
    traffic, and bare frames on them are recovered like on 8080.
    """
    return tuple(int(port) for port, owner in _port_owners(tshark) if owner not in PORT_OWNERS_KEPT)


@lru_cache(maxsize=4)
def _port_owners(tshark: Tshark) -> list[tuple[str, str]]:
    """(port, dissector) pairs of `tshark -G decodes` (~0.7 s), cached per binary on disk.

    A tshark that cannot list them gets no override: the ports then behave as before.
    """
    stat = os.stat(tshark.path)
    key = f"{tshark.path}|{stat.st_size}|{stat.st_mtime_ns}|{tshark.version_text}"
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wsdoctor"
    cache = cache_dir / f"tcp-ports-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    try:
        return _tcp_port_rows(cache.read_text())
    except OSError:
        pass
    try:
        out = subprocess.run(
            [tshark.path, "-G", "decodes"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    owners = _tcp_port_rows(out)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")
        partial.write_text("".join(f"tcp.port\t{port}\t{owner}\n" for port, owner in owners))
        partial.replace(cache)
    except OSError:
        pass  # an unwritable cache only costs the next run the same 0.7 s
    return owners


def _tcp_port_rows(text: str) -> list[tuple[str, str]]:
    rows = (line.split("\t") for line in text.splitlines())
    return sorted({(r[1], r[2]) for r in rows if len(r) == 3 and r[0] == "tcp.port"})


def start_packet_count(tshark: Tshark, capture: Path | str) -> subprocess.Popen[str] | None:
    """Start `capinfos -c` beside the dissection: the exact packet total costs no wall time.

    The display filter keeps tshark's output to packets that matter, so the rows cannot
    say how many packets the file holds; capinfos reads only record headers.
    """
    binary = shutil.which("capinfos", path=os.path.dirname(tshark.path)) or shutil.which("capinfos")
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "-c", "-M", "-T", "-r", str(capture)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish_packet_count(proc: subprocess.Popen[str] | None) -> int | None:
    """The total from `start_packet_count`, or None when capinfos could not tell.

    On a damaged file capinfos prints no table, only "An error occurred after reading N
    packets": N is then the number of packets that could be read.
    """
    if proc is None:
        return None
    out, err = proc.communicate()
    try:
        return int(out.strip().rsplit("\t", 1)[-1])
    except ValueError:
        pass
    read = re.search(r"after reading (\d+) packets?", err)
    return int(read.group(1)) if read else None


def read_packets(
    argv: list[str],
    on_progress: Callable[[int, int], None] | None = None,
    columns: list[str] | None = None,
) -> tuple[pl.DataFrame, RunResult]:
    """Run tshark and parse its output, chunk by chunk, into one all-String DataFrame.

    `columns` names the `-e` fields of argv in order (default: FIELDS).
    """
    names = columns or list(FIELDS)
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise InputError(
            f"cannot start: {exc.strerror}", source=argv[0], hint=INSTALL_HINT
        ) from None
    stderr_lines: list[str] = []
    err_thread = threading.Thread(
        target=_drain_lines, args=(proc.stderr, stderr_lines), daemon=True
    )
    err_thread.start()
    frames = [_parse_chunk(chunk, names) for chunk in _chunks(proc, on_progress)]
    proc.wait()
    err_thread.join()
    table = pl.concat(frames) if frames else _empty_packets(names)
    return table, RunResult(proc.returncode, stderr_lines)


def _chunks(
    proc: subprocess.Popen[bytes], on_progress: Callable[[int, int], None] | None
) -> Iterator[bytes]:
    """Yield newline-terminated blocks; a reader thread keeps tshark's pipe drained."""
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    threading.Thread(target=_pump, args=(proc.stdout, blocks), daemon=True).start()
    pending = b""
    seen = 0
    while (block := blocks.get()) is not None:
        pending += block
        cut = pending.rfind(b"\n") + 1
        if cut:
            ready, pending = pending[:cut], pending[cut:]
            seen += ready.count(b"\n")
            if on_progress:
                on_progress(seen, _last_file_offset(ready))
            yield ready
    if pending:
        yield pending + b"\n"


def _pump(stream: io.BufferedReader, out: queue.Queue[bytes | None]) -> None:
    try:
        # read(n) on a pipe blocks until n bytes or EOF: big blocks, few polars parses.
        while block := stream.read(CHUNK_BYTES):
            out.put(block)
    finally:
        out.put(None)


def _drain_lines(stream: io.BufferedReader, sink: list[str]) -> None:
    for raw in stream:
        sink.append(raw.decode("utf-8", "replace").rstrip())


def _last_file_offset(block: bytes) -> int:
    start = block.rfind(b"\n", 0, len(block) - 1) + 1
    cells = block[start:].split(b"\t", 3)
    try:
        return int(cells[2])
    except (IndexError, ValueError):
        return -1


def _parse_chunk(chunk: bytes, names: list[str]) -> pl.DataFrame:
    return pl.read_csv(
        io.BytesIO(chunk),
        separator="\t",
        has_header=False,
        quote_char=None,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )


def _empty_packets(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
