"""The verdict says who acted: the proxy, or a close timer; an idle timer only after a silence.

Facts read with plain tshark (the samples' READMEs): Apache's hop sent FIN to the origin
(frame 103) and to the client 1.3 ms later (frame 106) after 17.0 s without payload; Caddy,
stopped, sent its own close 1001 both ways (frames 149 and 152); mitmproxy, stopped, sent its
own close 1000 upstream (frame 117) with no silence before it on that leg.
"""

from __future__ import annotations

from analyzer.report import verdict

from conftest import analysis_of, sample


def _texts(name: str) -> list[str]:
    return [v.text for v in verdict.build(analysis_of(sample(name))).sessions]


def test_both_legs_ended_by_the_hop_name_the_spread_not_only_a_timer() -> None:
    for text in _texts("apache-idle-17s"):
        assert "after 17.0 s of two-way silence; the proxy ended both legs 1.3 ms apart" in text


def test_a_close_the_proxy_sent_is_attributed_to_it() -> None:
    client_leg, server_leg = _texts("caddy-stop-1001")
    assert "closed with 1001 (sent by the proxy itself, not the origin server)" in client_leg
    assert "closed with 1001 (sent by the proxy itself, not the client behind it)" in server_leg


def test_no_idle_timer_is_claimed_for_a_close_without_silence() -> None:
    upstream = _texts("mitmproxy-intercept-stop")[1]
    assert "(sent by the proxy itself, not the client behind it)" in upstream
    assert "idle timer" not in upstream


def test_an_unanswered_close_names_the_closers_wait_not_a_silence() -> None:
    # websocket-client's close (frame 94) went unanswered; its FIN followed 3.004 s later
    # (frame 96): its 3 s close timeout, not a silence before the close.
    [text] = _texts("close-unanswered")
    assert text.startswith("the client closed with 1000 and ended TCP 3.0 s later")
    assert "(its close timeout), with no close reply from the server" in text
    assert "silence" not in text
