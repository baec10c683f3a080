"""`python3 -m strata info [--json]`: what `strata info` prints (libstrata builds the report for both).

Exit codes as the `strata` tool's: 0 done, 2 a wrong command line.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import _strata


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python3 -m strata", description="strata's tools, from Python.")
    commands = parser.add_subparsers(dest="command", metavar="command")
    info = commands.add_parser(
        "info", help="version, backends and every tunable (environment variable, default, value)",
        description="Prints the version, the chip backends and every tunable with its environment variable, "
        "type, default and effective value.")
    info.add_argument("--json", action="store_true", help="all of it as one JSON object (numbers as numbers)")
    commands.add_parser("version", help="the library version")
    args = parser.parse_args(argv)
    if args.command == "info":
        sys.stdout.write(_strata.info_json() + "\n" if args.json else _strata.info_text())
    elif args.command == "version":
        sys.stdout.write(f"strata {_strata.__version__}\n")
    else:
        parser.print_usage(sys.stderr)
        return 2
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
