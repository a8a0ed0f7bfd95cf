"""Who the server was: the certificate it presented, and whether it is Deepgram's API.

A TLS-intercepting proxy presents its own certificate (its CA as issuer), which is proof
of interception that holds even when nothing inside the TLS can be read.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import side
from analyzer.ingest.x509 import subject_and_issuer

DEEPGRAM_DOMAIN = "deepgram.com"
DEEPGRAM_PATHS = ("/v1/listen", "/v1/speak", "/v1/agent")


def certificate_features(packets: pl.DataFrame) -> pl.DataFrame:
    """The server's leaf certificate per session: subject and issuer, RFC 4514 text.

    Only TLS handshake packets carry `tls_cert`, so this is a handful of rows; the DER is
    parsed in Python once per distinct certificate. A client certificate (mutual TLS) is
    ignored: it is sent by the client. Under TLS 1.3 the certificate is encrypted and is
    seen only with the session's keys.
    """
    certs = (
        packets.filter(side(False) & pl.col("tls_cert").is_not_null())
        .sort("frame_no")
        .group_by("session")
        .agg(pl.col("tls_cert").first())
    )
    distinct = certs["tls_cert"].unique().to_list()
    subjects, issuers = (
        zip(*map(subject_and_issuer, distinct), strict=True) if distinct else ((), ())
    )
    names = pl.DataFrame(
        {"tls_cert": distinct, "tls_cert_subject": subjects, "tls_cert_issuer": issuers},
        schema={"tls_cert": pl.String, "tls_cert_subject": pl.String, "tls_cert_issuer": pl.String},
    )
    return certs.join(names, on="tls_cert", how="left").drop("tls_cert")


def _host_name(column: str) -> pl.Expr:
    """A Host header or SNI without its port, lower case."""
    return pl.col(column).str.to_lowercase().str.replace(r":\d+$", "")


def deepgram_flag() -> pl.Expr:
    """The session is a Deepgram streaming endpoint, by any identifying trace.

    The dg-request-id header is Deepgram's own; otherwise the host or SNI is under
    deepgram.com, or the path is one of its streaming APIs (which also catches
    self-hosted and test deployments under other host names).
    """
    domain = pl.any_horizontal(
        (name == DEEPGRAM_DOMAIN) | name.str.ends_with("." + DEEPGRAM_DOMAIN)
        for name in (_host_name("host"), _host_name("sni"))
    )
    path = pl.any_horizontal(pl.col("path").str.starts_with(p) for p in DEEPGRAM_PATHS)
    return pl.col("dg_request_id").is_not_null() | domain.fill_null(False) | path.fill_null(False)
