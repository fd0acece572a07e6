"""How a script says no: one `error: ...` line on stderr naming the problem and the fix, and exit 2.
docs/errors.md lists every such message with its test."""

import sys

BAD_INPUT_EXIT = 2


def fail(msg):
    """Stop with one line that names the problem and the fix. Raises SystemExit(2), so a caller that must
    clean up (a lock, a temporary file) does so in its finally blocks."""
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(BAD_INPUT_EXIT)


def warn(msg):
    print(f"warning: {msg}", file=sys.stderr, flush=True)
