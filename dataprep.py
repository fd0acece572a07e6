"""
Writing datasets: the pieces every data/<name>/prepare.py shares.

A dataset is a folder with train.bin and val.bin (flat arrays of token ids, uint16 unless the
vocabulary needs uint32) and, for character-level data, meta.pkl. Files are written under a temporary
name and renamed into place, so an interrupted prepare never leaves a file that looks finished.
"""

import os
import pickle
import urllib.request

import numpy as np

from tokenizer import local_copy


def fetch_text(path, url, local_relpath):
    """Make sure the text file at path exists, from $NANOGPT_LOCAL_DATA/local_relpath or url; return its text."""
    if not os.path.exists(path):
        src = local_copy(local_relpath)
        if src is not None:
            with open(src, 'rb') as f:
                data = f.read()
        else:
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    data = r.read()
            except OSError as e:
                raise SystemExit(f"error: could not download {url} ({e}). Put the file at {path} yourself, "
                                 f"or set NANOGPT_LOCAL_DATA to a folder holding {local_relpath}") from None
        write_atomic(path, data)
    with open(path, 'r', encoding='utf-8') as f:
        return f.read()


def write_atomic(path, data):
    """Write bytes to path through a temporary file in the same folder, fsync'ed, then renamed."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def token_dtype(vocab_size):
    """uint16 while every id fits, else uint32; never a silent truncation."""
    return np.uint16 if vocab_size <= 2 ** 16 else np.uint32


def write_bin(path, ids, vocab_size):
    """Write token ids as a flat array of the smallest dtype that holds vocab_size ids."""
    dtype = token_dtype(vocab_size)
    arr = np.asarray(ids)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"token ids out of range for vocab_size {vocab_size}: {arr.min()}..{arr.max()}")
    write_atomic(path, arr.astype(dtype).tobytes())
    return arr.size


def write_meta(path, meta):
    write_atomic(path, pickle.dumps(meta))
