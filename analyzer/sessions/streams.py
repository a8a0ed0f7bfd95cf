"""Packets + frames + handshakes -> WebSocket sessions, and every event tagged with one.

A session is one TCP connection that attempted a WebSocket upgrade, carried WebSocket
frames (a capture started after the handshake: `recovered`), or carried TLS that could
not be decrypted (`encrypted`). Its client is the side that sent the upgrade request;
failing that the SYN; failing that the side whose frames are masked (RFC 6455 §5.3);
failing that the side with the higher port.
"""

from __future__ import annotations

import polars as pl

KEY = ["input", "stream"]


def _first_by(df: pl.DataFrame, value: str, alias: str) -> pl.DataFrame:
    return df.sort("frame_no").group_by(KEY).agg(pl.col(value).first().alias(alias))


def stream_roles(
    packets: pl.DataFrame, frames: pl.DataFrame, handshakes: pl.DataFrame
) -> pl.DataFrame:
    """(input, stream) -> client endpoint, by the strongest evidence available."""
    tcp = packets.filter(pl.col("stream").is_not_null())
    first = (
        tcp.sort("frame_no")
        .group_by(KEY)
        .agg(
            pl.col("src").first().alias("a"),
            pl.col("dst").first().alias("b"),
            pl.col("sport").first().alias("a_port"),
            pl.col("dport").first().alias("b_port"),
        )
    )
    by_port = pl.when(pl.col("a_port") >= pl.col("b_port")).then("a").otherwise("b")
    roles = (
        first.join(handshakes.select(*KEY, pl.col("client").alias("hs")), on=KEY, how="left")
        .join(
            _first_by(tcp.filter(pl.col("syn") & ~pl.col("ack")), "src", "syn"), on=KEY, how="left"
        )
        .join(_first_by(frames.filter(pl.col("masked")), "src", "masked"), on=KEY, how="left")
        .join(_first_by(frames.filter(~pl.col("masked")), "dst", "unmasked"), on=KEY, how="left")
        .with_columns(
            pl.coalesce("hs", "syn", "masked", "unmasked", by_port).alias("client"),
            _client_evidence().alias("client_evidence"),
        )
    )
    return roles.select(
        *KEY,
        "client",
        pl.when(pl.col("client") == pl.col("a")).then("b").otherwise("a").alias("server"),
        "client_evidence",
    )


def _client_evidence() -> pl.Expr:
    """Which evidence named the client: the strongest of the columns `stream_roles` joined."""
    return (
        pl.when(pl.col("hs").is_not_null())
        .then(pl.lit("handshake"))
        .when(pl.col("syn").is_not_null())
        .then(pl.lit("syn"))
        .when(pl.col("masked").is_not_null() | pl.col("unmasked").is_not_null())
        .then(pl.lit("masking"))
        .otherwise(pl.lit("ports"))
    )


def plausible_recovered(frames: pl.DataFrame) -> pl.DataFrame:
    """Streams whose frames could be RFC 6455: without a handshake, this is the only proof.

    Arbitrary bytes decoded as WebSocket produce reserved opcodes, RSV bits without an
    extension and a MASK bit that flips at random; a real session masks every client frame
    and no server frame (RFC 6455 §5.1).
    """
    per_side = frames.group_by(*KEY, "src").agg(
        pl.col("masked").all().alias("all_masked"),
        (~pl.col("masked")).all().alias("none_masked"),
        pl.col("opcode_num").is_in([0, 1, 2, 8, 9, 10]).all().alias("known"),
        pl.col("rsv").is_in([0, 4]).all().alias("rsv_ok"),
        pl.len().alias("n"),
    )
    return (
        per_side.group_by(KEY)
        .agg(
            (pl.col("all_masked") | pl.col("none_masked")).all().alias("uniform"),
            pl.col("all_masked").sum().alias("masked_sides"),
            (pl.col("known") & pl.col("rsv_ok")).all().alias("valid"),
            pl.col("n").sum().alias("n"),
        )
        .filter(
            pl.col("uniform") & (pl.col("masked_sides") <= 1) & pl.col("valid") & (pl.col("n") >= 2)
        )
        .select(KEY)
    )


def session_streams(
    packets: pl.DataFrame, frames: pl.DataFrame, handshakes: pl.DataFrame
) -> pl.DataFrame:
    """Which TCP streams are sessions, and of which kind."""
    with_ws = (
        frames.select(KEY)
        .unique()
        .join(handshakes.select(KEY), on=KEY, how="semi")
        .vstack(plausible_recovered(frames).join(handshakes.select(KEY), on=KEY, how="anti"))
        .with_columns(pl.lit(True).alias("has_frames"))
    )
    tls = (
        packets.filter(pl.col("tls"))
        .group_by(KEY)
        .agg(pl.col("tls_sni").drop_nulls().first().alias("sni"))
        .with_columns(pl.lit(True).alias("tls"))
    )
    hs = handshakes.select(*KEY, "status", "method")
    kinds = (
        hs.join(with_ws, on=KEY, how="full", coalesce=True)
        .join(tls, on=KEY, how="full", coalesce=True)
        .with_columns(pl.col("has_frames", "tls").fill_null(False))
    )
    return kinds.select(
        *KEY,
        _session_kind().alias("kind"),
        "tls",
        "sni",
        # A CONNECT is plain text before the TLS: only a request inside TLS proves decryption.
        (pl.col("tls") & pl.col("method").is_not_null() & (pl.col("method") != "CONNECT"))
        .fill_null(False)
        .alias("decrypted"),
    )


def _session_kind() -> pl.Expr:
    """websocket (101), rejected (answered otherwise), unanswered, recovered (frames without
    a handshake), encrypted (TLS, or a CONNECT tunnel carrying TLS, with no frames seen) or
    tunnel (a granted CONNECT is not a refusal, even when tshark cannot read inside it)."""
    tunnel_up = (pl.col("method") == "CONNECT") & pl.col("status").is_between(200, 299)
    return (
        pl.when(pl.col("status") == 101)
        .then(pl.lit("websocket"))
        .when(tunnel_up & pl.col("tls") & ~pl.col("has_frames"))
        .then(pl.lit("encrypted"))
        .when(tunnel_up & ~pl.col("has_frames"))
        .then(pl.lit("tunnel"))
        .when(
            pl.col("method").is_not_null() & pl.col("status").is_not_null() & ~pl.col("has_frames")
        )
        .then(pl.lit("rejected"))
        .when(pl.col("method").is_not_null() & ~pl.col("has_frames"))
        .then(pl.lit("unanswered"))
        .when(pl.col("has_frames"))
        .then(pl.lit("recovered"))
        .otherwise(pl.lit("encrypted"))
    )


def number_sessions(base: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """Attach start/end (`ingest.packets.stream_spans`: every packet of the connection)
    and ids s1.. ordered by start time (then input, stream)."""
    return (
        base.join(spans, on=KEY, how="left")
        .sort("start", *KEY)
        .with_columns(pl.format("s{}", pl.int_range(1, pl.len() + 1)).alias("id"))
    )


def tag(df: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Give each row of a per-packet table its session id and direction."""
    return (
        df.join(sessions.select(*KEY, "id", "client"), on=KEY, how="inner")
        .with_columns((pl.col("src") == pl.col("client")).alias("from_client"))
        .rename({"id": "session"})
    )
