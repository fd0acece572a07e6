"""How a script says no: one `error: ...` line on stderr naming the problem and the fix, and exit 2.
docs/errors.md lists every such message with its test."""

import sys

BAD_INPUT_EXIT = 2


def fail(msg):
    """Stop with one line that names the problem and the fix. Raises SystemExit(2), so a caller that must
    clean up (a lock, a temporary file) does so in its finally blocks."""
    _end_progress_bars()
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(BAD_INPUT_EXIT)


def warn(msg):
    tqdm = sys.modules.get('tqdm')
    if tqdm is not None and getattr(tqdm.tqdm, '_instances', None):  # a bar on screen: print above it
        tqdm.tqdm.write(f"warning: {msg}", file=sys.stderr)
    else:
        print(f"warning: {msg}", file=sys.stderr, flush=True)


def _end_progress_bars():
    """A tqdm bar on screen leaves its line open: close it first, so the message gets a line of its own."""
    tqdm = sys.modules.get('tqdm')
    for bar in list(getattr(getattr(tqdm, 'tqdm', None), '_instances', ())):
        bar.close()
