"""``python -m tools.recorder COMMAND [...]``, from the repository root.

Commands:
  record [--out DIR] [--facts-only] [scenario ...]
      record, derive or download each scenario (all by default, in table order) into
      sample_captures/<scenario>/, then write its expected.yaml; needs root
  facts [--out DIR] [scenario ...]
      record nothing: rewrite each scenario's expected.yaml from the capture already in its
      folder (record --facts-only); needs only tshark

Options without a command (``python -m tools.recorder --facts-only idle-1011``) are the
``record`` command's. The recorder's other programs run as modules of the package, e.g.
``python -m tools.recorder.har_chromium``, ``python -m tools.recorder.real_logs``,
``python -m tools.recorder.expected CAPTURE`` (README.md lists them).
"""

from __future__ import annotations

import sys

from . import record

PROG = "python -m tools.recorder"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "record":
        return record.main(rest, prog=f"{PROG} record")
    if command == "facts":
        return record.main(["--facts-only", *rest], prog=f"{PROG} facts")
    return record.main(args, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
