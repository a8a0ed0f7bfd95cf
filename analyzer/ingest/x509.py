"""Subject and issuer of an X.509 certificate, read from its DER with a minimal walker.

tshark prints `tls.handshake.certificate` as hex DER. Printing names through tshark's
x509 fields would cost a field per attribute on every packet and lose their structure;
a session has one server certificate, so a few dozen lines of DER walking, run once per
session, are cheaper and need no dependency. Names are written as RFC 4514 strings
(most specific RDN first, e.g. `CN=api.deepgram.com,O=Deepgram,C=US`), as
`openssl x509 -nameopt RFC2253` prints them. Anything malformed yields None.
"""

from __future__ import annotations

# RFC 4514 §3 short names, plus emailAddress as OpenSSL prints it.
SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}
SEQUENCE, SET, OID, EXPLICIT_0 = 0x30, 0x31, 0x06, 0xA0
_ESCAPE = {c: "\\" + c for c in ',+"\\<>;'}


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos` (definite lengths only)."""
    tag, length = der[pos], der[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise ValueError("truncated DER")
    return tag, start, end


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _tlv(der, start)
        out.append(element)
        start = element[2]
    return out


def _oid(raw: bytes) -> str:
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(map(str, [first, parts[0] - 40 * first, *parts[1:]]))


def _text(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    return raw.decode("utf-8", "replace")


def _escape(value: str) -> str:
    out = "".join(_ESCAPE.get(c, c) for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    return out[:-1] + "\\ " if out.endswith(" ") else out


def _name(der: bytes, start: int, end: int) -> str:
    """RDNSequence -> RFC 4514 string: RDNs in reverse order, multi-valued joined by '+'."""
    rdns = []
    for tag, s, e in _children(der, start, end):
        if tag != SET:
            raise ValueError("RDN is not a SET")
        pairs = []
        for _, ps, pe in _children(der, s, e):
            (otag, os_, oe), (vtag, vs, ve) = _children(der, ps, pe)[:2]
            if otag != OID:
                raise ValueError("attribute type is not an OID")
            oid = _oid(der[os_:oe])
            pairs.append(f"{SHORT_NAMES.get(oid, oid)}={_escape(_text(vtag, der[vs:ve]))}")
        rdns.append("+".join(pairs))
    return ",".join(reversed(rdns))


def subject_and_issuer(hex_der: str | None) -> tuple[str | None, str | None]:
    """(subject, issuer) of a hex-encoded DER certificate; (None, None) if unreadable."""
    try:
        der = bytes.fromhex(hex_der.replace(":", "")) if hex_der else b""
        _, cs, _ = _tlv(der, 0)
        _, ts, te = _tlv(der, cs)  # tbsCertificate
        fields = _children(der, ts, te)
        if fields and fields[0][0] == EXPLICIT_0:  # version [0]
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject
        issuer, subject = fields[2], fields[4]
        if issuer[0] != SEQUENCE or subject[0] != SEQUENCE:
            raise ValueError("names are not SEQUENCEs")
        return _name(der, subject[1], subject[2]), _name(der, issuer[1], issuer[2])
    except (ValueError, IndexError):
        return None, None
