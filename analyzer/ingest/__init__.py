"""The ingest stage: input files -> normalised tables (packets, frames, handshakes, HAR
entries, log events). Nothing here knows of sessions or rules."""
