"""
The dataset format: what a data/<name>/ folder holds and how the scripts read and check it.

    train.bin, val.bin   flat arrays of token ids, uint16 unless the vocabulary needs uint32
    summary.json         documents, characters, tokens, dtype, tokenizer, vocab_size, sha256 of each .bin
    meta.pkl             character-level data only: {vocab_size, itos, stoi, dtype}, nanoGPT's format

meta.pkl is a pickle, and a pickle can run code when loaded; it is read here with an unpickler that
admits only plain containers, strings and numbers, so a meta.pkl from elsewhere cannot.
"""

import difflib
import hashlib
import io
import json
import os
import pickle

import numpy as np

from nanogpt.atomicfile import write_atomic
from nanogpt.errors import fail

DATA_ROOT = 'data'
SUMMARY = 'summary.json'
META = 'meta.pkl'


def token_dtype(vocab_size):
    """The dtype of a dataset's .bin files: uint16 while every id fits, else uint32; never a silent truncation."""
    return np.dtype(np.uint16 if vocab_size <= 2 ** 16 else np.uint32)


def bin_dtype(data_dir):
    """The dtype a prepared dataset's .bin files are in: summary.json's or meta.pkl's word, else uint16."""
    s = load_summary(data_dir)
    if s is not None and 'dtype' in s:
        return np.dtype(s['dtype'])
    return np.dtype((load_meta(data_dir) or {}).get('dtype', 'uint16'))


# -----------------------------------------------------------------------------
# meta.pkl

class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # the only way a pickle reaches code; plain data never calls it
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")


def load_meta(data_dir):
    """The dataset's meta.pkl as a dict, or None when it has none (GPT-2 BPE datasets)."""
    path = os.path.join(data_dir, META)
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as f:
        data = f.read()
    try:
        meta = _PlainUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # UnpicklingError, EOFError, ...
        fail(f"{path} was not loaded: {e}. A meta.pkl holds only plain data (dicts, strings, numbers); "
             f"one that needs more could run code. Prepare the dataset again with its prepare script")
    if not isinstance(meta, dict) or not isinstance(meta.get('vocab_size'), int):
        fail(f"{path} has no vocab_size; it is not a dataset's meta.pkl. Prepare the dataset again")
    itos = meta.get('itos')
    if itos is not None and (not isinstance(itos, dict) or set(itos) != set(range(meta['vocab_size']))):
        fail(f"{path}: its itos does not name exactly the ids 0..{meta['vocab_size'] - 1} of its vocab_size "
             f"{meta['vocab_size']}, so tokens would decode wrong or not at all. Prepare the dataset again")
    return meta


def write_meta(data_dir, meta):
    write_atomic(os.path.join(data_dir, META), pickle.dumps(meta))


def char_meta(chars):
    """meta.pkl of a character-level dataset whose ids are the positions of chars."""
    itos = dict(enumerate(chars))
    return {'vocab_size': len(chars), 'itos': itos, 'stoi': {c: i for i, c in itos.items()},
            'dtype': token_dtype(len(chars)).name}


CHAT_FILES = ('train.mask.bin', 'val.mask.bin', 'train.idx.bin', 'val.idx.bin')  # a chat dataset's (nanogpt/chat.py)


def remove_files(data_dir, names):
    """Remove those of data_dir's files named that exist: another dataset's, which would be misread with new ids."""
    for name in names:
        if os.path.exists(os.path.join(data_dir, name)):
            os.remove(os.path.join(data_dir, name))


def write_bin(path, ids, vocab_size):
    """Write token ids as a flat array of the smallest dtype that holds vocab_size ids."""
    arr = np.asarray(ids)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"token ids out of range for vocab_size {vocab_size}: {arr.min()}..{arr.max()}")
    write_atomic(path, arr.astype(token_dtype(vocab_size)).tobytes())
    return arr.size


# -----------------------------------------------------------------------------
# summary.json: written by every prepare script, checked by train.py

def file_stats(path, dtype):
    """(tokens, sha256 hex, largest id or -1) of a .bin file, in one pass of 64 MB reads."""
    h, n, top = hashlib.sha256(), 0, -1
    itemsize = np.dtype(dtype).itemsize
    with open(path, 'rb') as f:
        while chunk := f.read(64 << 20):
            h.update(chunk)
            a = np.frombuffer(chunk, dtype=dtype, count=len(chunk) // itemsize)
            n += a.size
            if a.size:
                top = max(top, int(a.max()))
    return n, h.hexdigest(), top


def write_summary(data_dir, tokenizer, vocab_size, documents, characters, shown=None, **extra):
    """Measure train.bin/val.bin, save summary.json beside them, print it (as the dataset shown, when the files
    are written elsewhere first) and return it."""
    dtype = token_dtype(vocab_size)
    s = {'documents': documents, 'characters': characters}
    top = -1
    for split in ('train', 'val'):
        n, sha, m = file_stats(os.path.join(data_dir, f'{split}.bin'), dtype)
        s[f'{split}_tokens'], s[f'{split}_sha256'], top = n, sha, max(top, m)
    s.update(dtype=dtype.name, tokenizer=tokenizer, vocab_size=vocab_size, max_token_id=top, **extra)
    write_atomic(os.path.join(data_dir, SUMMARY), (json.dumps(s, indent=1, ensure_ascii=False) + '\n').encode())
    print_summary(shown or data_dir, s)
    return s


def print_summary(data_dir, s):
    n = lambda key: f"{s[key]:,}" if isinstance(s[key], int) else '?'
    tokens = s['train_tokens'] + s['val_tokens']
    # what the tokenizer costs this text: ~1 for characters (+ separators), ~0.25 for English in GPT-2 BPE
    per_char = f"{tokens / s['characters']:.3f}" if isinstance(s['characters'], int) and s['characters'] else '?'
    print(f"{data_dir}: {n('documents')} documents, {n('characters')} characters, "
          f"train {s['train_tokens']:,} tokens, val {s['val_tokens']:,} tokens, {per_char} tokens per character, "
          f"{s['dtype']}, tokenizer {s['tokenizer']} (vocab {s['vocab_size']:,}, largest id {s['max_token_id']:,})")


def load_summary(data_dir):
    """data_dir's summary.json as a dict, None when it has none; one that is not JSON, or whose fields are
    missing or of the wrong type (a file from elsewhere), exits 2 before any script relies on it."""
    path = os.path.join(data_dir, SUMMARY)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            s = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        fail(f"{path} is not readable JSON ({type(e).__name__}: {str(e)[:100]}); prepare the dataset again")
    problem = _summary_problem(s)
    if problem:
        fail(f"{path} is not a dataset's {SUMMARY}: {problem}; prepare the dataset again with the command that made it")
    return s


def _summary_problem(s):
    """What is wrong with a loaded summary.json (None when nothing): the fields the scripts read, by type."""
    if not isinstance(s, dict):
        return f"it holds a JSON {type(s).__name__}, not an object"
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)
    text, number = (lambda v: isinstance(v, str), 'a string'), (whole, 'a whole number')
    need = dict(train_tokens=number, val_tokens=number, max_token_id=number, tokenizer=text, train_sha256=text,
                val_sha256=text, vocab_size=(lambda v: whole(v) and v > 0, 'a whole number above 0'))
    if s.get('tokenizer') == 'trained':
        need['tokenizer_sha256'] = text
    may = dict(documents=(lambda v: v is None or whole(v), 'a whole number'), characters=(lambda v: v is None or whole(v),
               'a whole number'), dtype=(lambda v: v in ('uint16', 'uint32'), 'uint16 or uint32'), kind=text)
    for key, (ok, what) in {**need, **may}.items():
        if key not in s:
            if key in need:
                return f"it has no '{key}'"
        elif not ok(s[key]):
            return f"its '{key}' is {json.dumps(s[key])[:40]}, not {what}"
    if s['train_tokens'] < 0 or s['val_tokens'] < 0:
        return "it counts fewer than 0 tokens"
    return None


def check_batch_ids(x, y, vocab_size, path):
    """A batch's ids must exist in the model's vocabulary: a summary.json that understates the largest id let
    check_dataset pass, and the embedding would fail mid-run with an IndexError (a CUDA assert on a GPU)."""
    top = max(int(x.max()), int(y.max())) if x.numel() else -1
    if top >= vocab_size:
        fail(f"{path} holds token id {top:,} but the model's vocabulary has only {vocab_size:,} ids (its "
             f"{SUMMARY} understates the largest id); prepare the dataset again with the command that made it")


# -----------------------------------------------------------------------------
# finding and checking a dataset

def data_dir_of(name, source=None):
    """data/<name>; a path the user typed may point anywhere, but a name read from a file (source, e.g. a
    checkpoint from elsewhere) must stay inside data/."""
    parts = name.replace('\\', '/').split('/')
    if source is not None and (not name or os.path.isabs(name) or '..' in parts):
        fail(f"{source} names dataset {name!r}, which is not a folder inside {DATA_ROOT}/; "
             f"pass the dataset yourself with --dataset=NAME")
    return os.path.join(DATA_ROOT, name)


def dataset_dir(name, splits=('train', 'val'), source=None):
    """data/<name>, after checking that its .bin files of splits exist; exits 2 with the fix when not: the
    closest names among data/'s datasets, and its prepare.py or, for a corpus of your own, prepare_local.py."""
    data_dir = data_dir_of(name, source)
    for split in splits:
        if not os.path.exists(os.path.join(data_dir, f'{split}.bin')):
            known = sorted(d for d in os.listdir(DATA_ROOT) if any(
                os.path.exists(os.path.join(DATA_ROOT, d, f)) for f in ('train.bin', 'prepare.py'))
                ) if os.path.isdir(DATA_ROOT) else []
            close = [d for d in difflib.get_close_matches(name, known, n=3, cutoff=0.6) if d != name]
            if os.path.exists(os.path.join(data_dir, 'prepare.py')):
                fail(f"no {data_dir}/{split}.bin: prepare the dataset first with python {data_dir}/prepare.py")
            ready = lambda d: os.path.exists(os.path.join(DATA_ROOT, d, 'train.bin'))  # or only its prepare.py
            named = [f"--dataset={d}" + ('' if ready(d) else f" (prepare it first: python data/{d}/prepare.py)")
                     for d in close]
            mean = f"did you mean {' or '.join(named)}? Or, to" if close else "to"
            fail(f"no {data_dir}/{split}.bin: {mean} make it from your own text files: python data/prepare_local.py "
                 f"FILES --out_dir={data_dir}")
    return data_dir


def check_dataset(data_dir, vocab_size, block_size=0):
    """train.py's check before training: the .bin files exist, match summary.json (size, dtype) and hold
    no id the model's vocabulary lacks, and each split is longer than a block (a chat dataset's need not be:
    its batches are whole conversations). Exits 2 with the fix."""
    meta = load_meta(data_dir)
    s = load_summary(data_dir)
    dtype = bin_dtype(data_dir)
    redo = f"prepare it again (python {data_dir}/prepare.py, or the command that made it)"
    if meta is not None and s is not None and meta.get('dtype', 'uint16') != s['dtype']:
        fail(f"{data_dir}/{META} says {meta.get('dtype', 'uint16')} but {SUMMARY} says {s['dtype']}; {redo}")
    top = -1
    for split in ('train', 'val'):
        path = os.path.join(data_dir, f'{split}.bin')  # dataset_dir() has checked that it exists
        size = os.path.getsize(path)
        if s is not None:
            if size != s[f'{split}_tokens'] * dtype.itemsize:
                fail(f"{path} has {size:,} bytes but {SUMMARY} says {s[f'{split}_tokens']:,} {dtype.name} "
                     f"tokens ({s[f'{split}_tokens'] * dtype.itemsize:,} bytes): the file is incomplete or "
                     f"from another run; {redo}")
            top = s['max_token_id']
        else:  # a dataset from before summaries: scan its ids (no checksum, it is not needed here)
            if size % dtype.itemsize:
                fail(f"{path} has {size:,} bytes, not a whole number of {dtype.name} tokens; {redo}")
            if size:
                top = max(top, int(np.memmap(path, dtype=dtype, mode='r').max()))
        # a chat dataset's batches are whole conversations, padded: a split shorter than a block is fine
        if size // dtype.itemsize <= block_size and (s or {}).get('kind') != 'chat':
            fail(f"{path} has only {size // dtype.itemsize:,} tokens, not more than block_size={block_size}; "
                 f"use a smaller --block_size or a bigger dataset")
    if top >= vocab_size:
        fail(f"{data_dir} holds token id {top:,} but the model's vocabulary has only {vocab_size:,} ids; "
             f"train with this dataset's own vocabulary (init_from='scratch') or prepare it with the model's tokenizer")
    return s
