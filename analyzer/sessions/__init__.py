"""The sessions stage: every way a session comes to be, and how sources are joined.

A session is one WebSocket connection (or upgrade attempt) told by one or more inputs:

- `capture`: TCP streams of packet captures (`streams`), with their frame, TCP and
  handshake features;
- `har`: WebSocket entries of browser HAR files, through the same feature functions;
- `har_fold`: a HAR entry of a connection the capture also holds, folded into the
  capture's session (one session per connection, findings not doubled);
- `correlate` + `logs`: log events attached to the sessions they describe, and
  `log_only`: sessions only a log tells of;
- `renumber`: ids s1.. by start time over every source.

`build` runs them in that order on tables the ingest stage produced.
"""
