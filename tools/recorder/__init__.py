"""The sample-capture recorder: records each scenario of ``sample_captures/`` with real
software and writes its ``expected.yaml`` from plain tshark (never the wsdoctor engine).

A development tool, not part of the wsdoctor package (the wheel does not ship it). Run it
from the repository root: ``python -m tools.recorder --help``; see README.md beside this file.
Importing the package runs nothing: its programs are its modules (``record``, ``expected``,
``emulator``, ``client``, ``har_chromium``, ``proxies.servers``, ...).
"""
