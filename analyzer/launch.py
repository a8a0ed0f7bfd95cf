"""The `wsdoctor` console script: the capture's tshark first, then the rest of wsdoctor.

Importing the CLI imports the whole engine (0.3-0.4 s); ingest/prestart.py starts the
tshark `analyze` will run before that, from the command line alone.
"""

from __future__ import annotations

import sys

from analyzer.ingest import prestart


def main() -> None:
    prestart.speculate(sys.argv[1:])
    from analyzer.cli import main as cli_main  # the engine, imported while tshark starts

    cli_main()
