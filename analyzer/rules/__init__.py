"""Rules as data: YAML packs loaded, validated, compiled to polars and evaluated."""
