"""nvcc through ccache, for torch's extension builder (set as PYTORCH_NVCC).

Usage: python nvcc_ccache.py NVCC_ARGS...   (the real nvcc: $EGSTALKER_NVCC)
       python nvcc_ccache.py --help         (this text; any other arguments go to nvcc)

torch's builder calls nvcc with ``--generate-dependencies-with-compile`` and
``--dependency-output FILE``; ccache does not know those long spellings, takes FILE for
a second input and gives up caching (ccache issue 1663). They mean ``-MD`` and ``-MF``,
which ccache handles, so they are rewritten before ccache runs nvcc.
"""

from __future__ import annotations

import os
import sys

LONG_TO_SHORT = {
    "--generate-dependencies-with-compile": "-MD",
    "--generate-nonsystem-dependencies-with-compile": "-MMD",
    "--dependency-output": "-MF",
}


def rewrite(args: list[str]) -> list[str]:
    """The same nvcc arguments with the dependency options in the spelling ccache knows."""
    rewritten = []
    for arg in args:
        name, equals, value = arg.partition("=")
        if name in LONG_TO_SHORT:
            rewritten += [LONG_TO_SHORT[name], value] if equals else [LONG_TO_SHORT[name]]
        else:
            rewritten.append(arg)
    return rewritten


HELP_FLAGS = ("-h", "--help")


def main(argv: list[str]) -> None:
    if len(argv) == 1 and argv[0] in HELP_FLAGS:
        # Only a lone --help is ours: nvcc's own --help among other arguments passes through.
        print(__doc__.strip())
        print("\nRun the real nvcc's help with: $EGSTALKER_NVCC --help")
        return
    nvcc = os.environ.get("EGSTALKER_NVCC")
    if not nvcc:
        raise SystemExit("nvcc_ccache.py: EGSTALKER_NVCC (the real nvcc) is not set")
    os.execvp("ccache", ["ccache", nvcc, *rewrite(argv)])


if __name__ == "__main__":
    main(sys.argv[1:])
