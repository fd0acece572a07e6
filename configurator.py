"""
Poor man's configurator, the reference's way: a script defines its knobs as plain globals, then calls

    config = configure(globals())

which applies, left to right, config files given as positional arguments and --key=value overrides
(the last one wins), e.g.

    python train.py config/train_shakespeare_char.py --batch_size=32 --compile=False

Values are parsed with ast.literal_eval (so 1e-3, True, 'abc' and None work); anything that does not
parse is taken as a plain string. A value must have the default's type, except that an int is accepted
for a float. An unknown key is an error that names the closest known keys.
"""

import ast
import difflib
import sys

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
