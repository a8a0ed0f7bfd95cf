"""Renderings of a Dataset: JSON records and terminal tables (reports come later)."""
