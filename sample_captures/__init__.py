"""The sample corpus, as data: installed as the package `analyzer.builtin_samples` so the
rules' `sample:` test cases run from a wheel (see analyzer/resources.py). No code here."""
