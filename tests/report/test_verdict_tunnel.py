"""A granted CONNECT is a tunnel, never a refusal, even when tshark cannot read inside it.

tshark hands the bytes of a plain CONNECT tunnel to an HTTP port on as undissected data
(packet-http.c, http_payload_subdissector), so the client leg of a ws:// session through
tinyproxy shows a CONNECT answered 200 and nothing else. Calling that leg "refused with
200" sent readers after a proxy that had done its job.
"""

from __future__ import annotations

from analyzer.report import verdict

from conftest import analysis_of, sample


def _lines(name: str, keys: bool = True) -> dict[str, str]:
    result = analysis_of(sample(name, keys=keys))
    kinds = dict(zip(*result.data.sessions.select("id", "kind"), strict=True))
    return {f"{kinds[v.session]}:{v.session}": v.text for v in verdict.build(result).sessions}


def test_a_granted_plain_tunnel_is_described_as_open() -> None:
    lines = _lines("tinyproxy-connect-ws")
    [tunnel] = [text for key, text in lines.items() if key.startswith("tunnel:")]
    assert tunnel.startswith("the proxy opened a CONNECT tunnel to 127.0.0.42:8080 (200)")
    assert "127.0.0.42:8080 shows it" in tunnel  # where the frames are: the proxy's own leg
    assert not any("refused" in text for text in lines.values())


def test_a_denied_connect_is_still_a_refusal() -> None:
    lines = _lines("squid-connect", keys=False)
    [refused] = [text for key, text in lines.items() if key.startswith("rejected:")]
    assert "the proxy refused the CONNECT to api.deepgram.test:9443 with 403" in refused
    assert not any(key.startswith("tunnel:") for key in lines)  # its granted leg is TLS
