"""
Files a script would download, taken from a local folder instead when NANOGPT_LOCAL_DATA is set:

    $NANOGPT_LOCAL_DATA/gpt2_bpe/gpt2.tiktoken         GPT-2 BPE ranks (r50k_base.tiktoken), sha256-checked
    $NANOGPT_LOCAL_DATA/tinyshakespeare/input.txt      the tiny shakespeare text
    $NANOGPT_LOCAL_DATA/tang_poems/poet.tang.*.json    the Tang poems

Machines without network access (clusters, CI) use this; everyone else downloads as the reference does.
"""

import os
import urllib.request

from nanogpt.atomicfile import write_atomic
from nanogpt.errors import fail

LOCAL_DATA_ENV = 'NANOGPT_LOCAL_DATA'


def local_copy(relpath):
    """Path of relpath under $NANOGPT_LOCAL_DATA, or None when the variable is unset."""
    root = os.environ.get(LOCAL_DATA_ENV)
    if not root:
        return None
    path = os.path.join(root, relpath)
    if not os.path.exists(path):
        fail(f"{LOCAL_DATA_ENV}={root} but {path} does not exist; put the file there or unset {LOCAL_DATA_ENV} "
             f"to download it")
    return path


def fetch_file(path, url, local_relpath):
    """Make sure the file at path exists, copied from $NANOGPT_LOCAL_DATA/local_relpath or downloaded from url."""
    if os.path.exists(path):
        return
    src = local_copy(local_relpath)
    if src is not None:
        with open(src, 'rb') as f:
            data = f.read()
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = r.read()
        except OSError as e:
            fail(f"could not download {url} ({e}). Put the file at {path} yourself, "
                 f"or set {LOCAL_DATA_ENV} to a folder holding {local_relpath}")
    write_atomic(path, data)


def fetch_text(path, url, local_relpath):
    """fetch_file, then the file's text."""
    fetch_file(path, url, local_relpath)
    with open(path, 'r', encoding='utf-8') as f:
        return f.read()
