"""Per-session derived features: each module turns tagged tables into one row per session.

Every feature is a polars aggregation over the session's frames or packets; the columns
are declared and documented in `analyzer.session_schema.SESSIONS`.
"""
