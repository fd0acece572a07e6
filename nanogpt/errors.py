"""How a bad input ends: one `error: ...` line on stderr naming the problem and the fix, and exit 2.
docs/errors.md lists every such message with its test.

Library code raises BadInput and never exits the process itself (serve.py, say, answers it per request). A script
calls exit_on_bad_input() once, after its imports: a BadInput that reaches the top then prints its one line and
the process exits 2, with every finally block (locks, temporary files) and atexit handler run on the way out."""

import sys

BAD_INPUT_EXIT = 2


class BadInput(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


def fail(msg):
    """Stop with one line that names the problem and the fix (raises BadInput)."""
    raise BadInput(msg)


def exit_on_bad_input():
    """Make an uncaught BadInput one `error:` line and exit 2 instead of a traceback and exit 1."""
    sys.excepthook = _excepthook


def report(e, file=None):
    """Print BadInput e as its one line (to sys.stderr unless told)."""
    _end_progress_bars()
    print(f"error: {e}", file=file or sys.stderr, flush=True)


def _excepthook(kind, value, tb):
    if not issubclass(kind, BadInput):
        return sys.__excepthook__(kind, value, tb)
    # to the process's own stderr: after init_process_group, torch.distributed's hook calls this one with
    # sys.stderr swapped for a buffer it prints afterwards, which the SystemExit below would lose
    report(value, file=sys.__stderr__)
    raise SystemExit(BAD_INPUT_EXIT)  # raised here, the interpreter exits with this code (after atexit)


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
