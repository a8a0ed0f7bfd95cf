"""The built-in rule pack, as data: installed as the package `analyzer.builtin_rules`
(see analyzer/resources.py). No code lives here."""
