"""
Writing datasets: the pieces every data/<name>/prepare.py shares.

A dataset is a folder with train.bin and val.bin (flat arrays of token ids, uint16 unless the
vocabulary needs uint32), summary.json (documents, characters, tokens, dtype, tokenizer, checksums)
and, for character-level data, meta.pkl ({vocab_size, itos, stoi, dtype}). Files are written under a
temporary name and renamed into place, so an interrupted prepare never leaves a file that looks finished.

prepare_documents() is the fast route for any stream of documents (local files, TinyStories, poems):
each document is tokenized on its own (GPT-2: encode_ordinary then EOT 50256; characters: the text then
'\n'), in fixed shards spread over worker processes. Shards are appended in order to partial files
under <out_dir>/.prepare/, and a small state file records how far they got, so a run killed at any
moment resumes where it stopped and writes byte-identical files. A document goes to val when a hash
of its text says so (or when its index says so, for a fixed 9:1 split): adding documents never moves
old ones, so append(B) after prepare(A) equals prepare(A+B) and `cat` of the two datasets' files.
"""

import hashlib
import json
import os
import pickle
import shutil
import tarfile
import time
import urllib.request
from collections import deque

import numpy as np

from atomicfile import atomic_write
from configurator import fail
from tokenizer import GPT2_EOT, GPT2_VOCAB, data_dtype, gpt2_encoding, load_meta, local_copy

SUMMARY = 'summary.json'
WORK = '.prepare'  # unfinished work of an interrupted prepare, inside out_dir
SHARD_CHARS = 4_000_000  # characters of text per shard: the unit of work and of resuming


def fetch_file(path, url, local_relpath):
    """Make sure the file at path exists, copied from $NANOGPT_LOCAL_DATA/local_relpath or downloaded from url."""
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


def fetch_text(path, url, local_relpath):
    """fetch_file, then the file's text."""
    fetch_file(path, url, local_relpath)
    with open(path, 'r', encoding='utf-8') as f:
        return f.read()


def write_atomic(path, data):
    """Write bytes to path through a temporary file in the same folder, fsync'ed, then renamed."""
    with atomic_write(path) as f:
        f.write(data)


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


def char_meta(chars):
    """meta.pkl of a character-level dataset whose ids are the positions of chars."""
    itos = dict(enumerate(chars))
    return {'vocab_size': len(chars), 'itos': itos, 'stoi': {c: i for i, c in itos.items()},
            'dtype': np.dtype(token_dtype(len(chars))).name}


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


def write_summary(data_dir, tokenizer, vocab_size, documents, characters, **extra):
    """Measure train.bin/val.bin, save summary.json beside them, print it and return it."""
    dtype = np.dtype(token_dtype(vocab_size))
    s = {'documents': documents, 'characters': characters}
    top = -1
    for split in ('train', 'val'):
        n, sha, m = file_stats(os.path.join(data_dir, f'{split}.bin'), dtype)
        s[f'{split}_tokens'], s[f'{split}_sha256'], top = n, sha, max(top, m)
    s.update(dtype=dtype.name, tokenizer=tokenizer, vocab_size=vocab_size, max_token_id=top, **extra)
    write_atomic(os.path.join(data_dir, SUMMARY), (json.dumps(s, indent=1, ensure_ascii=False) + '\n').encode())
    print_summary(data_dir, s)
    return s


def print_summary(data_dir, s):
    n = lambda key: f"{s[key]:,}" if isinstance(s[key], int) else '?'
    print(f"{data_dir}: {n('documents')} documents, {n('characters')} characters, "
          f"train {s['train_tokens']:,} tokens, val {s['val_tokens']:,} tokens, "
          f"{s['dtype']}, tokenizer {s['tokenizer']} (vocab {s['vocab_size']:,}, largest id {s['max_token_id']:,})")


def load_summary(data_dir):
    path = os.path.join(data_dir, SUMMARY)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def check_dataset(data_dir, vocab_size, block_size=0):
    """train.py's check before training: the .bin files exist, match summary.json (size, dtype) and hold
    no id the model's vocabulary lacks, and each split is longer than a block. Exits 2 with the fix."""
    meta = load_meta(data_dir)
    dtype = data_dtype(meta)
    s = load_summary(data_dir)
    redo = f"prepare it again (python {data_dir}/prepare.py, or the command that made it)"
    if s is not None and s['dtype'] != dtype.name:
        fail(f"{data_dir}/meta.pkl says {dtype.name} but summary.json says {s['dtype']}; {redo}")
    top = -1
    for split in ('train', 'val'):
        path = os.path.join(data_dir, f'{split}.bin')
        if not os.path.exists(path):
            fail(f"no {path}: {redo}")
        size = os.path.getsize(path)
        if s is not None:
            if size != s[f'{split}_tokens'] * dtype.itemsize:
                fail(f"{path} has {size:,} bytes but summary.json says {s[f'{split}_tokens']:,} {dtype.name} "
                     f"tokens ({s[f'{split}_tokens'] * dtype.itemsize:,} bytes): the file is incomplete or "
                     f"from another run; {redo}")
            top = s['max_token_id']
        else:  # a dataset from before summaries: scan its ids (no checksum, it is not needed here)
            if size % dtype.itemsize:
                fail(f"{path} has {size:,} bytes, not a whole number of {dtype.name} tokens; {redo}")
            if size:
                top = max(top, int(np.memmap(path, dtype=dtype, mode='r').max()))
        if size // dtype.itemsize <= block_size:
            fail(f"{path} has only {size // dtype.itemsize:,} tokens, not more than block_size={block_size}; "
                 f"use a smaller --block_size or a bigger dataset")
    if top >= vocab_size:
        fail(f"{data_dir} holds token id {top:,} but the model's vocabulary has only {vocab_size:,} ids; "
             f"train with this dataset's own vocabulary (init_from='scratch') or prepare it with the model's tokenizer")
    return s


# -----------------------------------------------------------------------------
# documents from local files: one per .txt file, one per JSON line, both also inside .tar/.tar.gz

def file_kind(name):
    for ext in ('.txt', '.jsonl', '.tar', '.tar.gz', '.tgz'):
        if name.endswith(ext):
            return ext
    return None


def corpus_files(paths):
    """The input files of paths (files or folders, folders walked in sorted order)."""
    if not paths:
        fail("no input paths given")
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if file_kind(f))
            if not found:
                fail(f"{p} holds no .txt, .jsonl, .tar or .tar.gz files")
            files += found
        elif not os.path.exists(p):
            fail(f"{p} does not exist")
        elif file_kind(p) is None:
            fail(f"{p} is not a .txt, .jsonl, .tar or .tar.gz file (or a folder of them)")
        else:
            files.append(p)
    return files


def decode_utf8(data, where):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        fail(f"{where} is not UTF-8 (bad byte at offset {e.start}); convert it first, "
             f"e.g. iconv -f GB18030 -t UTF-8 in.txt > out.txt")


def drop_empty(text):
    """The text without its empty and whitespace-only lines."""
    return ''.join(line for line in text.splitlines(keepends=True) if line.strip())


def _member_docs(name, f, key):
    """Documents of one binary file object: the whole text of a .txt, or each JSON line's text field."""
    if name.endswith('.txt'):
        data = f.read()
        yield decode_utf8(data, name), len(data)
        return
    for i, line in enumerate(f):  # line by line: .jsonl files can be far larger than memory
        if not line.strip():
            continue
        where = f"{name} line {i + 1}"
        try:
            obj = json.loads(decode_utf8(line, where))
        except json.JSONDecodeError as e:
            fail(f"{where} is not JSON ({e.msg}); .jsonl files hold one JSON object per line")
        if not isinstance(obj, dict) or not isinstance(obj.get(key), str):
            fail(f"{where} has no string field '{key}'; name the text field with --key")
        yield obj[key], len(line)


def local_documents(files, key='text'):
    """Yield (text, bytes read) for every document of files, in order."""
    for path in files:
        kind = file_kind(path)
        if kind in ('.txt', '.jsonl'):
            with open(path, 'rb') as f:
                yield from _member_docs(path, f, key)
            continue
        try:
            with tarfile.open(path) as tar:  # members in archive order
                for m in tar:
                    if m.isfile() and file_kind(m.name) in ('.txt', '.jsonl'):
                        yield from _member_docs(f"{path}:{m.name}", tar.extractfile(m), key)
        except (tarfile.TarError, EOFError, OSError) as e:
            fail(f"{path} is not a readable tar archive ({e})")


# -----------------------------------------------------------------------------
# the fast route: documents -> shards -> worker processes -> partial files -> train.bin/val.bin

def is_val(text, index, split):
    """The split rule. ('hash', f): the first 8 bytes of blake2b(text) as an integer, below f * 2**64, so a
    document's split depends on its text alone; ('every', n): every n-th document (index % n == n - 1)."""
    rule, arg = split
    if rule == 'every':
        return index % arg == arg - 1
    h = int.from_bytes(hashlib.blake2b(text.encode('utf-8'), digest_size=8).digest(), 'little')
    return h < arg * 2 ** 64


_W = {}  # per-process tokenizer state, set by _init_worker


def _init_worker(tokenizer, chars):
    _W.clear()
    if tokenizer == 'gpt2':  # encode_ordinary, straight into an array where tiktoken (>= 0.8) can
        enc = gpt2_encoding()
        _W['enc'] = ((lambda t: enc.encode_to_numpy(t, allowed_special=set(), disallowed_special=()))
                     if hasattr(enc, 'encode_to_numpy') else (lambda t: np.asarray(enc.encode_ordinary(t))))
    else:  # characters: a lookup table from code point to id
        lut = np.full(max(map(ord, chars)) + 1, -1, dtype=np.int64)
        lut[[ord(c) for c in chars]] = np.arange(len(chars))
        _W['lut'] = lut
    _W['dtype'] = token_dtype(GPT2_VOCAB if tokenizer == 'gpt2' else len(chars))


def _encode_shard(docs, first_index, split):
    """Token ids of a shard's documents: (train ids, val ids, characters)."""
    out = ([], [])
    chars = 0
    for i, text in enumerate(docs):
        chars += len(text)
        if 'enc' in _W:
            ids = np.append(_W['enc'](text), GPT2_EOT)
        else:
            cps = np.frombuffer((text + '\n').encode('utf-32-le'), dtype=np.uint32)
            ids = _W['lut'][cps] if cps.max() < len(_W['lut']) else np.array([-1])
            if ids.min() < 0:  # a character outside the vocabulary: never write a wrapped-around id
                raise ValueError(f"document {first_index + i} has characters missing from the vocabulary")
        out[is_val(text, first_index + i, split)].append(np.asarray(ids, dtype=_W['dtype']))
    join = lambda parts: np.concatenate(parts) if parts else np.zeros(0, _W['dtype'])
    return join(out[0]), join(out[1]), chars


def _shards(documents, drop_empty_lines, shard_chars):
    """Group the non-empty documents into shards of about shard_chars characters: (docs, first index, bytes)."""
    docs, size, nbytes, index = [], 0, 0, 0
    for text, n in documents:
        nbytes += n
        if drop_empty_lines:
            text = drop_empty(text)
        if not text:
            continue  # an empty document would add a bare separator
        docs.append(text)
        size += len(text)
        if size >= shard_chars:
            yield docs, index, nbytes
            index += len(docs)
            docs, size, nbytes = [], 0, 0
    if docs or nbytes:
        yield docs, index, nbytes


def _fsync_append(path, data):
    with open(path, 'ab') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def prepare_documents(out_dir, documents, *, tokenizer='gpt2', split=('hash', 0.0005), drop_empty_lines=False,
                      append=False, num_proc=2, shard_chars=SHARD_CHARS, fingerprint='', total_bytes=None,
                      desc='prepare'):
    """Tokenize documents() (a function returning an iterator of (text, bytes read)) into out_dir's
    train.bin/val.bin (+ meta.pkl for characters), resumably; with append, after the dataset already there.
    fingerprint names the inputs and options: work left by an interrupted run is reused only when it matches."""
    from tqdm import tqdm
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, WORK)
    base = load_summary(out_dir) if append else None
    if append:
        if base is None:
            fail(f"{out_dir} has no {SUMMARY}: append adds to a dataset made by this route; prepare it first")
        if base['tokenizer'] != tokenizer:
            fail(f"{out_dir} was prepared with the {base['tokenizer']} tokenizer, not {tokenizer}")
        if fingerprint in base.get('inputs', []):
            fail(f"these inputs were already added to {out_dir} (its {SUMMARY} lists them); nothing to append")
        fingerprint += f" onto {base['train_sha256']} {base['val_sha256']}"
    key = hashlib.sha256(f"{tokenizer} {split} {drop_empty_lines} {shard_chars} {fingerprint}".encode()).hexdigest()

    # vocabulary: GPT-2's, or the sorted characters of the documents (appended ones get new ids at the end)
    chars = None
    if tokenizer == 'char':
        seen = set()
        for text, _ in documents():
            seen.update(drop_empty(text) if drop_empty_lines else text)
        if not seen:
            fail("the inputs hold no text")
        old = [load_meta(out_dir)['itos'][i] for i in range(base['vocab_size'])] if append else []
        chars = old + sorted(seen.union('\n') - set(old))
    vocab_size = GPT2_VOCAB if tokenizer == 'gpt2' else len(chars)
    dtype = np.dtype(token_dtype(vocab_size))
    if append and dtype.name != base['dtype']:
        fail(f"the new characters grow the vocabulary to {vocab_size:,}, past what {base['dtype']} holds; "
             f"prepare the whole corpus again instead of appending")

    # state of an interrupted run with the same inputs, or a fresh start
    state_path = os.path.join(work, 'state.json')
    partial = {s: os.path.join(work, f'{s}.bin.partial') for s in ('train', 'val')}
    state = None
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
        if state['key'] != key:
            print(f"{work} holds work of another prepare; starting over")
            state = None
    if state is None:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        for s in ('train', 'val'):  # with append, the partial files start as copies of the dataset's
            if append:
                shutil.copyfile(os.path.join(out_dir, f'{s}.bin'), partial[s])
            else:
                open(partial[s], 'wb').close()
        state = {'key': key, 'shards': 0, 'documents': 0, 'characters': 0, 'bytes': 0,
                 'train': os.path.getsize(partial['train']), 'val': os.path.getsize(partial['val'])}
        write_atomic(state_path, json.dumps(state).encode())
    else:
        print(f"resuming after {state['shards']} shards ({state['documents']:,} documents)")
    finishing = state.get('finishing', False)  # killed while renaming files into place: only finish
    for s in ('train', 'val'):  # drop whatever a kill left past the last recorded shard
        if not finishing:
            os.truncate(partial[s], state[s])

    def commit(result, ndocs, nbytes):
        train_ids, val_ids, nchars = result
        _fsync_append(partial['train'], train_ids.tobytes())
        _fsync_append(partial['val'], val_ids.tobytes())
        state.update(shards=state['shards'] + 1, documents=state['documents'] + ndocs,
                     characters=state['characters'] + nchars, bytes=state['bytes'] + nbytes,
                     train=state['train'] + train_ids.nbytes, val=state['val'] + val_ids.nbytes)
        write_atomic(state_path, json.dumps(state).encode())
        bar.update(nbytes)

    t0, start = time.time(), state['train'] + state['val']
    bar = tqdm(total=total_bytes, unit='B', unit_scale=True, desc=desc, initial=state['bytes'])
    shards = _shards(documents(), drop_empty_lines, shard_chars) if not finishing else ()
    todo = (sh for n, sh in enumerate(shards) if n >= state['shards'])  # done shards are read, not tokenized
    if num_proc <= 1:
        _init_worker(tokenizer, chars)
        for docs, first, nbytes in todo:
            commit(_encode_shard(docs, first, split), len(docs), nbytes)
    else:
        import multiprocessing
        with multiprocessing.get_context('fork').Pool(num_proc, _init_worker, (tokenizer, chars)) as pool:
            pending = deque()  # in order, at most 2 per worker, so memory stays bounded
            for docs, first, nbytes in todo:
                pending.append((pool.apply_async(_encode_shard, (docs, first, split)), len(docs), nbytes))
                if len(pending) >= 2 * num_proc:
                    r, n, b = pending.popleft()
                    commit(r.get(), n, b)
            while pending:
                r, n, b = pending.popleft()
                commit(r.get(), n, b)
    bar.close()
    elapsed = time.time() - t0

    if state['documents'] == 0 and not append:
        fail("the inputs hold no text: every document is empty")
    for s in ('train', 'val'):
        if state[s] == 0:
            fail(f"no document went to {s}: the split is by document ({split[0]} rule, {split[1]}) and there are only "
                 f"{state['documents']:,}; give more documents (e.g. split a long text into one file per chapter) "
                 f"or a larger --val_fraction")
    # finish: meta, then the .bin files, then the summary, each renamed into place
    state['finishing'] = True
    write_atomic(state_path, json.dumps(state).encode())
    meta_path = os.path.join(out_dir, 'meta.pkl')
    if chars is not None:
        write_meta(meta_path, char_meta(chars))
    elif os.path.exists(meta_path):
        os.remove(meta_path)  # a character-level dataset's meta would make train.py misread these ids
    for s in ('train', 'val'):
        if os.path.exists(partial[s]):
            os.replace(partial[s], os.path.join(out_dir, f'{s}.bin'))
    inputs = (base.get('inputs', []) if append else []) + [fingerprint.split(' onto ')[0]]
    summary = write_summary(out_dir, tokenizer, vocab_size,
                            documents=state['documents'] + (base['documents'] if append else 0),
                            characters=state['characters'] + (base['characters'] if append else 0),
                            split=f"{split[0]} {split[1]}", drop_empty_lines=drop_empty_lines, inputs=inputs)
    shutil.rmtree(work)
    ntok = (state['train'] + state['val'] - start) // dtype.itemsize
    print(f"tokenized {ntok:,} tokens in {elapsed:.1f}s ({ntok / max(elapsed, 1e-9):,.0f} tokens/s)")
    return summary


def files_fingerprint(files, options=''):
    """Names, sizes and modification times of the input files: what resuming and append compare."""
    parts = [f"{os.path.abspath(p)}:{os.path.getsize(p)}:{os.stat(p).st_mtime_ns}" for p in files]
    return hashlib.sha256(('\n'.join(parts) + options).encode()).hexdigest()[:16]


# -----------------------------------------------------------------------------
# the Hugging Face route (openwebtext): datasets' loader, train_test_split, a multi-process map

def _hf_tokenize(batch):
    enc = gpt2_encoding()
    ids = [enc.encode_ordinary(t) + [GPT2_EOT] for t in batch['text']]
    return {'ids': ids, 'chars': [len(t) for t in batch['text']]}


def prepare_hf(out_dir, load, source, num_proc=2, test_size=0.0005, seed=2357):
    """The reference's recipe on datasets >= 4: load() gives one split of documents with a 'text' column;
    test_size of them (seed 2357) become val; each document's encode_ordinary tokens then EOT, tokenized by
    num_proc processes; train.bin/val.bin written to temporary names and renamed when complete."""
    try:
        ds = load()
    except Exception as e:  # offline, missing repository or files, a script-based dataset
        fail(f"could not load {source} ({type(e).__name__}: {str(e)[:300]}). Without network access, download "
             f"its parquet files elsewhere and pass them with --data_files")
    if 'text' not in ds.column_names:
        fail(f"{source} has no 'text' column (columns: {', '.join(ds.column_names)})")
    split = ds.train_test_split(test_size=test_size, seed=seed, shuffle=True)
    split['val'] = split.pop('test')
    tokenized = split.map(_hf_tokenize, batched=True, remove_columns=ds.column_names, num_proc=num_proc,
                          desc='tokenizing the splits')
    from tqdm import tqdm
    work = os.path.join(out_dir, WORK)
    os.makedirs(work, exist_ok=True)
    chars = 0
    for s, dset in tokenized.items():
        partial = os.path.join(work, f'{s}.bin.partial')
        with open(partial, 'wb') as f:
            for tbl in tqdm(dset.with_format('arrow').iter(batch_size=16384), desc=f'writing {s}.bin',
                            total=-(-len(dset) // 16384)):
                f.write(tbl['ids'].combine_chunks().flatten().to_numpy().astype(np.uint16).tobytes())
                chars += sum(tbl['chars'].to_pylist())
            f.flush()
            os.fsync(f.fileno())
    meta_path = os.path.join(out_dir, 'meta.pkl')
    if os.path.exists(meta_path):
        os.remove(meta_path)
    for s in tokenized:
        os.replace(os.path.join(work, f'{s}.bin.partial'), os.path.join(out_dir, f'{s}.bin'))
    shutil.rmtree(work)
    return write_summary(out_dir, 'gpt2', GPT2_VOCAB, documents=len(ds), characters=chars,
                         split=f"datasets train_test_split test_size={test_size} seed={seed}", source=source)
