"""
Poor man's configurator, the reference's way: a script defines its knobs as plain globals, then calls

    config = configure(globals())

which applies, left to right, config files given as positional arguments and --key=value overrides
(the last one wins), e.g.

    python train.py config/train_shakespeare_char.py --batch_size=32 --compile=False

Values are parsed with ast.literal_eval (so 1e-3, True, 'abc' and None work); anything that does not
parse is taken as a plain string. A value must have the default's type, except that an int is accepted
for a float. An unknown key is an error that names the closest known keys.

--help (or -h) prints every knob with its default, type and comment, grouped as in the script, and exits 0.
"""

import ast
import difflib
import io
import os
import sys
import tokenize

from nanogpt.errors import fail

CONFIG_TYPES = (int, float, bool, str)


def config_keys(g, nullable=()):
    """The knobs of a script: its public globals of a plain type (None for those in nullable), not CONSTANTS."""
    return [k for k, v in g.items() if not k.startswith('_') and not k.isupper()
            and (isinstance(v, CONFIG_TYPES) or (v is None and k in nullable))]


def unknown(key, keys):
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known keys: {', '.join(sorted(keys))}"
    return f"unknown config key '{key}'{hint}"


def coerce(key, value, default, nullable):
    """Check value against the default's type; return it converted where the conversion is lossless."""
    if value is None and key in nullable:
        return None
    if default is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(default, bool) and isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, int):
        return float(value)
    elif isinstance(value, type(default)):
        return value
    fail(f"--{key} expects a value of type {type(default).__name__} (default {default!r}), got {value!r}")


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def configure(g, argv=None, nullable=()):
    """Apply config files and --key=value arguments to the globals dict g; return the config dict
    (the plain-typed knobs and their final values). Keys in nullable may also be set to None."""
    argv = sys.argv[1:] if argv is None else argv
    keys = config_keys(g, nullable)
    if '--help' in argv or '-h' in argv:
        print(help_text(g, keys, nullable))
        sys.exit(0)
    for arg in argv:
        if not arg.startswith('--'):
            # a config file: run it, then take the plain values it defines
            try:
                with open(arg) as f:
                    source = f.read()
            except OSError as e:
                fail(f"cannot read config file {arg}: {e.strerror}; arguments are config files or --key=value")
            print(f"Overriding config with {arg}:")
            print(source)
            scope = {}
            try:
                exec(compile(source, arg, 'exec'), scope)
            except Exception as e:  # a typo, a failed import: the file's problem, told in one line
                line = getattr(e, 'lineno', None) or next((t.tb_lineno for t in _frames(e.__traceback__)
                                                           if t.tb_frame.f_code.co_filename == arg), '?')
                fail(f"config file {arg} raised {type(e).__name__} at line {line}: {e}; fix the file")
            for key, value in scope.items():
                if key.startswith('_') or not isinstance(value, CONFIG_TYPES + (type(None),)):
                    continue  # imports, helpers
                if key not in keys:
                    fail(f"{arg}: " + unknown(key, keys))
                g[key] = coerce(key, value, g[key], nullable)
        else:
            key, sep, raw = arg[2:].partition('=')  # a value may itself contain '='
            if not sep:
                fail(f"argument {arg} has no value: write --{key}=VALUE")
            if key not in keys:
                fail(unknown(key, keys))
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                value = raw
            if isinstance(g[key], str) and not isinstance(value, str) and not (value is None and key in nullable):
                value = raw  # e.g. --out_dir=2024 stays the string '2024'
            g[key] = coerce(key, value, g[key], nullable)
            print(f"Overriding: {key} = {g[key]!r}")
    return {k: g[k] for k in keys}


# -----------------------------------------------------------------------------
# --help: read from the script's own source, so the comments beside the globals are the documentation

def _comments(source):
    """{line number: (comment text, True if the line holds nothing else)} of a Python source."""
    out = {}
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            out[row] = (tok.string.lstrip('#').strip(), not lines[row - 1][:col].strip())
    return out


def _layout(source, keys):
    """The knob block of a script, in order: ('knob', key, comment), ('group', title) for a short comment
    line that heads the knobs below it (# I/O, # data, ...), ('note', text) for any other comment line."""
    knobs = {}  # first line of each knob's assignment -> (key, its lines)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in keys and node.targets[0].id not in [k for k, _ in knobs.values()]:
            knobs[node.lineno] = (node.targets[0].id, range(node.lineno, node.end_lineno + 1))
    if not knobs:
        return []
    comments = _comments(source)
    first = min(knobs)
    while first - 1 in comments and comments[first - 1][1]:  # the comment lines just above the first knob
        first -= 1
    items = []
    for row in range(first, max(knobs) + 1):
        if row in knobs:
            key, span = knobs[row]
            items.append(('knob', key, ' '.join(comments[r][0] for r in span if r in comments)))
        elif row in comments and comments[row][1] and comments[row][0].strip('-'):
            text = comments[row][0]
            short = len(text.split()) <= 5 and not text.endswith('.') and row + 1 in knobs
            items.append(('group', text) if short else ('note', text))
    return items


def help_text(g, keys, nullable=()):
    """The --help of the script whose globals are g."""
    script = g.get('__file__') or sys.argv[0]
    name = os.path.relpath(script) if script else 'script.py'
    try:
        with open(script) as f:
            items = _layout(f.read(), keys)
    except (OSError, SyntaxError, ValueError):
        items = []
    shown = {it[1] for it in items if it[0] == 'knob'}
    items += [('knob', k, '') for k in keys if k not in shown]  # e.g. knobs set in a loop
    doc = (g.get('__doc__') or '').strip().split('\n\n')[0]
    out = [f"usage: python {name} [CONFIG_FILE ...] [--key=value ...]", '']
    if doc:
        out += [doc, '']
    out += ["Config files (Python files that set some of these names) and --key=value arguments are applied",
            "left to right, the last one winning. Values are Python literals: --learning_rate=1e-3 --compile=False.",
            '', "--name=default, type, and what it is:"]
    rows = []
    for it in items:
        if it[0] == 'knob':
            v = g[it[1]]
            kind = 'any' if v is None else type(v).__name__ + (' or None' if it[1] in nullable else '')
            rows.append(('knob', f"  --{it[1]}={v!r}" if isinstance(v, str) else f"  --{it[1]}={v}", kind, it[2]))
        else:
            rows.append(it)
    width = min(40, max(len(r[1]) for r in rows if r[0] == 'knob'))
    kinds = max(len(r[2]) for r in rows if r[0] == 'knob')
    for r in rows:
        if r[0] == 'group':
            out += ['', f"{r[1]}:"]
        elif r[0] == 'note':
            out.append(f"  # {r[1]}")
        else:
            out.append(f"{r[1]:<{width}}  {r[2]:<{kinds}}  {r[3]}".rstrip())
    return '\n'.join(out)
