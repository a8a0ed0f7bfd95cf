"""Pure helpers: RFC 6455 accept key, secret redaction, capture header sniffing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from analyzer import redact
from analyzer.ingest.sniff import sniff_capture
from analyzer.protocol import accept_key, opcode_name

from conftest import ZEEK


def test_accept_key_matches_rfc6455_example() -> None:
    # RFC 6455 §1.3: this key yields this accept value.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_opcode_names() -> None:
    assert [opcode_name(n) for n in (0, 1, 2, 8, 9, 10, 11)] == [
        "continuation",
        "text",
        "binary",
        "close",
        "ping",
        "pong",
        "reserved-11",
    ]


def test_authorization_keeps_scheme_but_not_secret() -> None:
    out = redact.header_value("Authorization", "Token dg_0123456789abcdef")
    assert out.startswith("Token dg_0") and "123456789abcdef" not in out


def test_subprotocol_credential_is_masked() -> None:
    assert redact.subprotocols("token, s3cr3tkeyvalue") == ["token", "s3cr…redacted"]
    assert redact.subprotocols("v1, chat") == ["v1", "chat"]


def test_query_token_and_free_text_keys_are_masked() -> None:
    assert redact.query_value("token", "abcdefgh") == "abcd…redacted"
    assert redact.query_value("encoding", "linear16") == "linear16"
    text = redact.free_text("key 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffee1234 used")
    assert "9f8e…redacted" in text and "39281706" not in text


def test_sniff_reads_link_type_and_snaplen(tmp_path: Path) -> None:
    pcap = sniff_capture(ZEEK / "broker-websocket.pcap")
    assert (pcap.format, pcap.compressed, pcap.link_types) == ("pcap", False, ["ethernet"])
    ng = sniff_capture(ZEEK / "oversized-close-frame.pcapng")
    assert ng.format == "pcapng" and ng.link_types == ["ethernet"]
    packed = tmp_path / "x.pcap.gz"
    packed.write_bytes(gzip.compress((ZEEK / "broker-websocket.pcap").read_bytes()))
    assert sniff_capture(packed).compressed


def test_tokens_embedded_in_a_subprotocol_entry_are_masked() -> None:
    """wstunnel (Zeek's wstunnel traces) offers `authorization.bearer.<JWT>` as one entry."""
    from conftest import ZEEK, cli_json

    [session] = cli_json("sessions", ZEEK / "wstunnel-http.pcap")
    text = json.dumps(session)
    assert "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6" not in text
    offered = session["handshake"]["subprotocols_offered"]
    assert offered[0] == "v1" and offered[1].startswith("authorization.bearer.eyJ0")
