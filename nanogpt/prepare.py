"""
Writing datasets: the two routes every data/<name>/prepare.py takes (the format is dataset.py's).

prepare_documents() is the fast route for any stream of documents (local files, TinyStories, poems):
each document is tokenized on its own (GPT-2: encode_ordinary then EOT 50256; a trained tokenizer.json:
its encode_ordinary then its <|endoftext|> id, through its tiktoken conversion with every CHECK_EVERY-th
document of a shard checked against tokenizers; characters: the text then '\n'), in fixed shards spread
over worker processes. Shards are appended in order to partial files
under <out_dir>/.prepare/, and a small state file records how far they got, so a run killed at any
moment resumes where it stopped and writes byte-identical files. A document goes to val when a hash
of its text says so (or when its index says so, for a fixed 9:1 split): adding documents never moves
old ones, so append(B) after prepare(A) equals prepare(A+B) and `cat` of the two datasets' files.
Files are renamed into place only when whole, so an interrupted prepare never leaves one that looks finished.

prepare_hf() is the reference's route for Hugging Face datasets (openwebtext).
"""

import errno
import hashlib
import itertools
import json
import os
import shutil
import time
from collections import deque, namedtuple

import numpy as np

from nanogpt.atomicfile import fsync_append, write_atomic
from nanogpt.corpus import drop_empty
from nanogpt.dataset import (CHAT_FILES, SUMMARY, char_meta, load_meta, load_summary, remove_files, token_dtype,
                             write_meta, write_summary)
from nanogpt.errors import fail, warn
from nanogpt.lock import hold
from nanogpt.tokenizer import EOT_TOKEN, GPT2_EOT, GPT2_VOCAB, TRAINED_FILE, TrainedTokenizer, gpt2_encoding

WORK = '.prepare'  # unfinished work of an interrupted prepare, inside out_dir
SHARD_CHARS = 4_000_000  # characters of text per shard: the unit of work and of resuming
PIECES = 4  # parts of a shard encoded apart when --num_proc > 1
SLOTS = 4096  # the array that says who started each part sent to workers, by part number modulo SLOTS (a slot
# reused too soon could at most make a part encoded twice, never lost; far fewer parts are in flight)
CHECK_EVERY = 100  # a trained tokenizer through tiktoken: every 100th document of a shard checked against tokenizers


# -----------------------------------------------------------------------------
# the fast route: documents -> shards -> worker processes -> partial files -> train.bin/val.bin

def _hash(text):
    return int.from_bytes(hashlib.blake2b(text.encode('utf-8'), digest_size=8).digest(), 'little')


def is_val(text, index, split):
    """The split rule. ('hash', f): the first 8 bytes of blake2b(text) as an integer, below f * 2**64, so a
    document's split depends on its text alone; ('every', n): every n-th document (index % n == n - 1)."""
    rule, arg = split
    if rule == 'every':
        return index % arg == arg - 1
    return _hash(text) < arg * 2 ** 64


_W = {}  # per-process tokenizer state, set by _init_worker
_LOADED = {}  # sha256: the TrainedTokenizer the main process loaded (forked workers inherit it instead of loading)


def trained_tokenizer(tokenizer):
    """The TrainedTokenizer a prepare's tokenizer argument names (a path to a tokenizer.json), or None for
    'gpt2' and 'char'; one without the separator <|endoftext|> cannot mark where documents end."""
    if tokenizer in ('gpt2', 'char'):
        return None
    tok = TrainedTokenizer(tokenizer)
    _LOADED.clear()
    _LOADED[tok.sha256] = tok
    if tok.eot is None:
        fail(f"{tokenizer} has no special token {EOT_TOKEN}, which separates documents; train one with "
             f"python data/train_tokenizer.py (it reserves it)")
    return tok


def _init_worker(tokenizer, chars, sha256=None, started=None):
    _W.clear()
    _W['started'] = started
    if sha256 is not None:  # a trained tokenizer.json, the same file the main process checked
        tok = _LOADED.get(sha256) or TrainedTokenizer(tokenizer, sha256)
        _W['enc'] = lambda t: np.asarray(tok.encode_ordinary_reference(t), dtype=np.int64)
        if tok.tiktoken is not None:  # the converted file; _encode_shard checks it before use
            fast = tok.tiktoken
            _W['fast'] = lambda t: fast.encode_to_numpy(t, allowed_special=set(), disallowed_special=())
        _W['eot'] = tok.eot
        _W['dtype'] = token_dtype(tok.vocab_size)
        return
    if tokenizer == 'gpt2':  # encode_ordinary, straight into an array where tiktoken (>= 0.8) can
        enc = gpt2_encoding()
        _W['enc'] = ((lambda t: enc.encode_to_numpy(t, allowed_special=set(), disallowed_special=()))
                     if hasattr(enc, 'encode_to_numpy') else (lambda t: np.asarray(enc.encode_ordinary(t))))
    else:  # characters: a lookup table from code point to id
        lut = np.full(max(map(ord, chars)) + 1, -1, dtype=np.int64)
        lut[[ord(c) for c in chars]] = np.arange(len(chars))
        _W['lut'] = lut
    _W['eot'] = GPT2_EOT
    _W['dtype'] = token_dtype(GPT2_VOCAB if tokenizer == 'gpt2' else len(chars))


def _check_fast(docs, first_index):
    """None if tiktoken gives tokenizers' ids on every CHECK_EVERY-th document of the shard (the first included),
    else the one-line warning naming the first document where they differ."""
    for i in range(0, len(docs), CHECK_EVERY):
        fast, ref = _W['fast'](docs[i]), _W['enc'](docs[i])
        if len(fast) != len(ref) or (fast != ref).any():
            return (f"the tiktoken conversion of the tokenizer encodes document {first_index + i:,} "
                    f"({docs[i][:40]!r}) differently from tokenizers; the rest of this run uses tokenizers (slower)")
    return None


def _encode_shard(docs, first_index, split, fast=False):
    """Token ids of a shard's documents: (train ids, val ids, characters, warning or None). fast: through the
    trained tokenizer's tiktoken conversion, after a sample of the shard gave tokenizers' ids with it."""
    out = ([], [])
    chars = 0
    warning = _check_fast(docs, first_index) if fast and 'fast' in _W else None
    enc = _W['fast'] if fast and 'fast' in _W and warning is None else _W.get('enc')
    eot = np.array([_W['eot']], dtype=_W['dtype'])
    for i, text in enumerate(docs):
        chars += len(text)
        if enc is not None:
            ids = enc(text)  # the separator goes in as its own part: no copy of the document's ids
        else:
            cps = np.frombuffer((text + '\n').encode('utf-32-le'), dtype=np.uint32)
            ids = _W['lut'][cps] if cps.max() < len(_W['lut']) else np.array([-1])
            if ids.min() < 0:  # a character outside the vocabulary: never write a wrapped-around id
                raise ValueError(f"document {first_index + i} has characters missing from the vocabulary")
        part = out[is_val(text, first_index + i, split)]
        part.append(ids)
        if enc is not None:
            part.append(eot)
    # ids are below the vocabulary size, which dtype holds (token_dtype): the cast loses nothing
    join = lambda parts: (np.concatenate(parts, dtype=_W['dtype'], casting='unsafe') if parts
                          else np.zeros(0, _W['dtype']))
    return join(out[0]), join(out[1]), chars, warning


def _shards(documents, drop_empty_lines, shard_chars):
    """Group the non-empty documents into shards of about shard_chars characters: (docs, first index, bytes)."""
    docs, size, nbytes, index = [], 0, 0, 0
    for text, n in documents:
        nbytes += n
        if drop_empty_lines:
            text = drop_empty(text)
        if not text or text.isspace():
            continue  # an empty (or whitespace-only) document would add a bare separator
        docs.append(text)
        size += len(text)
        if size >= shard_chars:
            yield docs, index, nbytes
            index += len(docs)
            docs, size, nbytes = [], 0, 0
    if docs or nbytes:
        yield docs, index, nbytes


def _vocabulary(out_dir, documents, tokenizer, drop_empty_lines, base, trained):
    """(chars or None, vocab_size): GPT-2's, the trained tokenizer's, or the sorted characters of the documents;
    appended documents' new characters get new ids after the dataset's."""
    if trained is not None:
        return None, trained.vocab_size
    if tokenizer != 'char':
        return None, GPT2_VOCAB
    seen = set()
    for text, _ in documents():
        seen.update(drop_empty(text) if drop_empty_lines else text)
    if not seen:
        fail("the inputs hold no text")
    old = [load_meta(out_dir)['itos'][i] for i in range(base['vocab_size'])] if base else []
    chars = old + sorted(seen.union('\n') - set(old))
    return chars, len(chars)


def _open_work(out_dir, key, append):
    """(state, partial file paths) of the work in out_dir/.prepare: an interrupted run's with the same key,
    cut back to its last recorded shard, or a fresh start (with append, partial files that begin as copies
    of the dataset's)."""
    work = os.path.join(out_dir, WORK)
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
        for s in ('train', 'val'):
            if append:
                shutil.copyfile(os.path.join(out_dir, f'{s}.bin'), partial[s])
            else:
                open(partial[s], 'wb').close()
        state = {'key': key, 'shards': 0, 'documents': 0, 'characters': 0, 'bytes': 0,
                 'train': os.path.getsize(partial['train']), 'val': os.path.getsize(partial['val'])}
        write_atomic(state_path, json.dumps(state).encode())
    else:
        print(f"resuming after {state['shards']} shards ({state['documents']:,} documents)")
    if not state.get('finishing'):  # killed while renaming files into place: only finish
        for s in ('train', 'val'):  # drop whatever a kill left past the last recorded shard
            os.truncate(partial[s], state[s])
    return state, state_path, partial


def _tokenize_shards(state, state_path, partial, shards, init, split, num_proc, bar, fast):
    """Tokenize the shards not done yet, on num_proc processes, appending each in order to the partial
    files and recording it in the state file. fast: through tiktoken, each shard's sample checked, until a
    shard's check fails; shards then handed out use tokenizers (those in flight do their own checks)."""
    warned = [None]  # the number of the first shard whose check failed: later ones use tokenizers

    def commit(result, ndocs, nbytes):
        train_ids, val_ids, nchars, warning = result
        if warning and warned[0] is None:
            warn(warning)
            warned[0] = state['shards']  # this shard's number
        fsync_append(partial['train'], train_ids.tobytes())
        fsync_append(partial['val'], val_ids.tobytes())
        state.update(shards=state['shards'] + 1, documents=state['documents'] + ndocs,
                     characters=state['characters'] + nchars, bytes=state['bytes'] + nbytes,
                     train=state['train'] + train_ids.nbytes, val=state['val'] + val_ids.nbytes)
        write_atomic(state_path, json.dumps(state).encode())
        bar.update(nbytes)

    # (shard number, shard): done shards are read, not tokenized
    todo = ((n, sh) for n, sh in enumerate(shards) if n >= state['shards'])
    _init_worker(*init)
    if num_proc <= 1:
        for _, (docs, first, nbytes) in todo:
            commit(_encode_shard(docs, first, split, fast and warned[0] is None), len(docs), nbytes)
        return fast and warned[0] is None
    # num_proc processes in all: num_proc - 1 workers, and this one, which reads and, whenever each worker has a
    # shard's worth of parts queued, encodes what it read itself (a reader that only waited would be one process
    # more than there are cores). A shard goes out in up to PIECES parts; once all is read, this process takes
    # back the parts no worker has started, newest first, so that no process waits long on another at the end.
    # Shard k goes out through tiktoken unless a shard before k - depth failed its check, and those are all
    # committed by then: the output never depends on timing, nor on which process encoded what.
    import multiprocessing
    ctx = multiprocessing.get_context('fork')
    workers = num_proc - 1
    depth = 2 * workers
    started = ctx.Array('q', SLOTS)  # part n's slot n % SLOTS: n once a worker started it, -n - 1 once taken back
    with ctx.Pool(workers, _init_worker, (*init, started)) as pool:
        pending = deque()  # _Pending shards, in order
        queued = lambda: sum(not r.ready() for shard in pending for r in shard.results)
        sent = itertools.count(1)  # 0 in the array: no worker started it
        for k, (docs, first, nbytes) in todo:
            while pending and pending[0].k < k - depth:
                _commit_oldest(pending, commit, split)
            shard_fast = fast and (warned[0] is None or warned[0] >= k - depth)
            # parts of whole multiples of CHECK_EVERY documents: the documents checked are num_proc=1's
            step = max(1, -(-len(docs) // PIECES // CHECK_EVERY)) * CHECK_EVERY
            parts = [(docs[i:i + step], first + i) for i in range(0, len(docs), step)] or [([], first)]
            results = []
            pending.append(_Pending(k, parts, results, len(docs), nbytes))
            for part in parts:
                args = (*part, split, shard_fast)
                busy = queued() >= PIECES * workers
                results.append(_Encoded(*args) if busy else _Sent(pool, started, next(sent), args))
            while pending and all(r.ready() for r in pending[0].results):  # what is done, without waiting
                _commit_oldest(pending, commit, split)
        for shard in reversed(pending):
            for r in reversed(shard.results):
                if not r.ready():
                    r.take_back()
        while pending:
            _commit_oldest(pending, commit, split)
    return fast and warned[0] is None


# a shard sent out in parts: its number k, the parts (documents, first index), their results (_Encoded or _Sent)
_Pending = namedtuple('_Pending', 'k parts results ndocs nbytes')


class _Encoded:
    """A part the main process encoded: its result, or the exception it raised, given when its turn comes."""

    def __init__(self, *args):
        try:
            self.value, self.error = _encode_shard(*args), None
        except Exception as e:
            self.value, self.error = None, e

    def ready(self):
        return True

    def get(self):
        if self.error is not None:
            raise self.error
        return self.value


class _Sent:
    """A part sent to the pool as number n: a worker's result, or this process's if it took the part back
    before any worker started it."""

    def __init__(self, pool, started, n, args):
        self.started, self.n, self.args = started, n, args
        self.result = pool.apply_async(_encode_sent, (n, *args))

    def ready(self):
        return self.result.ready()

    def take_back(self):
        with self.started.get_lock():
            if self.started[self.n % SLOTS] == self.n:
                return  # a worker has it
            self.started[self.n % SLOTS] = -self.n - 1
        self.result = _Encoded(*self.args)

    def get(self):
        return self.result.get()


def _encode_sent(n, *args):
    """_encode_shard in a worker for part n, unless the main process took the part back (None)."""
    started = _W['started']
    with started.get_lock():
        if started[n % SLOTS] == -n - 1:
            return None
        started[n % SLOTS] = n
    return _encode_shard(*args)


def _commit_oldest(pending, commit, split):
    """Commit the oldest shard from its parts' results, in order. A part whose check found tiktoken and
    tokenizers disagreeing used tokenizers; the shard's other parts are then encoded again with tokenizers,
    so that the shard is what num_proc=1 writes."""
    shard = pending.popleft()
    done = [r.get() for r in shard.results]
    warning = next((d[3] for d in done if d[3]), None)
    if warning:
        done = [d if d[3] else _encode_shard(*part, split, False) for d, part in zip(done, shard.parts)]
    commit((np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done]), sum(d[2] for d in done),
            warning), shard.ndocs, shard.nbytes)


def prepare_documents(out_dir, documents, *, tokenizer='gpt2', split=('hash', 0.0005), drop_empty_lines=False,
                      append=False, num_proc=2, shard_chars=SHARD_CHARS, fingerprint='', total_bytes=None,
                      desc='prepare'):
    """Tokenize documents() (a function returning an iterator of (text, bytes read)) into out_dir's
    train.bin/val.bin (+ meta.pkl for characters), resumably; with append, after the dataset already there.
    fingerprint names the inputs and options: work left by an interrupted run is reused only when it matches.
    tokenizer: 'gpt2', 'char' or the path of a trained tokenizer.json (copied into out_dir as tokenizer.json)."""
    from tqdm import tqdm
    trained = trained_tokenizer(tokenizer)
    kind = 'trained' if trained else tokenizer  # what summary.json says; a trained one is known by its sha256
    fast = trained is not None and trained.tiktoken is not None and (trained.check or {}).get('equal') is not False
    if trained is not None:
        print(f"encoding through tiktoken (the tokenizer.json converted; every {CHECK_EVERY}th document of each "
              "shard checked against tokenizers)" if fast else "encoding with Hugging Face tokenizers: " +
              (trained.tiktoken_why or "the check in tokenizer_report.json found ids that differ from tiktoken's"))
    hold(out_dir, 'prepare')  # one writer per dataset folder (nanogpt/lock.py)
    base = load_summary(out_dir) if append else None
    if append:
        if base is None:
            fail(f"{out_dir} has no {SUMMARY}: append adds to a dataset made by this route; prepare it first")
        if base['tokenizer'] != kind:
            fail(f"{out_dir} was prepared with the {base['tokenizer']} tokenizer, not {kind}")
        if trained and base.get('tokenizer_sha256') != trained.sha256:
            fail(f"{out_dir} was prepared with another tokenizer.json (sha256 {base.get('tokenizer_sha256', '?')[:12]}...) "
                 f"than {tokenizer} ({trained.sha256[:12]}...); append with --tokenizer={out_dir}/{TRAINED_FILE}")
        if fingerprint in base.get('inputs', []):
            fail(f"these inputs were already added to {out_dir} (its {SUMMARY} lists them); nothing to append")
        fingerprint += f" onto {base['train_sha256']} {base['val_sha256']}"
    tok_name = trained.sha256 if trained else tokenizer
    key = hashlib.sha256(f"{tok_name} {split} {drop_empty_lines} {shard_chars} {fingerprint}".encode()).hexdigest()

    if not append and split[0] == 'every':  # too few documents for a val split: say so before tokenizing
        have = sum(1 for _ in itertools.islice(_texts(documents, drop_empty_lines), split[1]))
        if 0 < have < split[1]:
            too_few_documents('val', split, have)
    elif not append:
        split = small_corpus_split(documents, drop_empty_lines, split)
    chars, vocab_size = _vocabulary(out_dir, documents, tokenizer, drop_empty_lines, base, trained)
    dtype = token_dtype(vocab_size)
    if append and dtype.name != base['dtype']:
        fail(f"the new characters grow the vocabulary to {vocab_size:,}, past what {base['dtype']} holds; "
             f"prepare the whole corpus again instead of appending")

    try:
        state, state_path, partial = _open_work(out_dir, key, append)
        t0, start = time.time(), state['train'] + state['val']
        bar = tqdm(total=total_bytes, unit='B', unit_scale=True, desc=desc, initial=state['bytes'])
        shards = _shards(documents(), drop_empty_lines, shard_chars) if not state.get('finishing') else ()
        init = (tokenizer, chars, trained.sha256 if trained else None)
        fast = _tokenize_shards(state, state_path, partial, shards, init, split, num_proc, bar, fast)
        bar.close()
    except OSError as e:
        disk_full(e, out_dir)
    elapsed = time.time() - t0

    if state['documents'] == 0 and not append:
        fail("the inputs hold no text: every document is empty")
    for s in ('train', 'val'):
        if state[s] == 0:
            too_few_documents(s, split, state['documents'])
    try:
        summary = _finish(out_dir, state, state_path, partial, kind, chars, vocab_size, base, fingerprint, trained,
                          split=f"{split[0]} {split[1]}", drop_empty_lines=drop_empty_lines)
    except OSError as e:
        disk_full(e, out_dir)
    ntok = (state['train'] + state['val'] - start) // dtype.itemsize
    print(f"tokenized {ntok:,} tokens in {elapsed:.1f}s ({ntok / max(elapsed, 1e-9):,.0f} tokens/s)")
    return summary


def _texts(documents, drop_empty_lines):
    """The documents' texts as they are tokenized, without the empty (or whitespace-only) ones."""
    texts = (drop_empty(t) if drop_empty_lines else t for t, _ in documents())
    return (t for t in texts if t.strip())


def small_corpus_split(documents, drop_empty_lines, split, limit=10_000):
    """The hash rule's split, checked before tokenizing: one document cannot be split (said now); a corpus of
    up to limit documents where the rule leaves val (or train) empty gets the threshold moved so that exactly
    the document with the lowest hash goes to val (or the highest stays in train): still by text alone."""
    hashes = sorted(_hash(t) for t in itertools.islice(_texts(documents, drop_empty_lines), limit + 1))
    if len(hashes) == 1:
        too_few_documents('val', split, 1)
    if len(hashes) < 2 or len(hashes) > limit:
        return split
    threshold = split[1] * 2 ** 64
    if hashes[0] < threshold <= hashes[-1]:
        return split
    where = 'val' if hashes[0] >= threshold else 'train'
    lo, hi = hashes[:2] if where == 'val' else hashes[-2:]
    f = (lo + hi) / 2 / 2 ** 64  # midway between two hashes: a float's rounding cannot move a document across
    print(f"only {len(hashes):,} documents and none went to {where} at a val fraction of {split[1]:g}: the split "
          f"threshold moves to {f:.6g}, so {where} gets the one document whose hash is "
          f"{'lowest' if where == 'val' else 'highest'}")
    return ('hash', f)


def too_few_documents(s, split, n):
    fail(f"no document went to {s}: the split is by document ({split[0]} rule, {split[1]}) and there are only "
         f"{n:,}; give more documents (e.g. split a long text into one file per chapter) or a larger --val_fraction")


def disk_full(e, out_dir, kept="the dataset there is as it was (its files are replaced only when whole)"):
    """A write that failed for want of space (or quota, or a file size limit) is the user's to fix: one line,
    saying what was kept. Any other OSError is a bug or an input problem, and keeps its traceback."""
    if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        raise e
    fail(f"could not write to {out_dir} ({e.strerror}); {kept}. Free some space, then run the same command again")


def _finish(out_dir, state, state_path, partial, tokenizer, chars, vocab_size, base, fingerprint, trained, **options):
    """Put the finished files into place, meta (or tokenizer.json) first, then the .bin files, then the summary;
    a kill in between is finished by the next run (state 'finishing')."""
    state['finishing'] = True
    write_atomic(state_path, json.dumps(state).encode())
    if chars is not None:
        write_meta(out_dir, char_meta(chars))
    elif os.path.exists(os.path.join(out_dir, 'meta.pkl')):
        os.remove(os.path.join(out_dir, 'meta.pkl'))  # a character-level dataset's meta would make train.py misread these ids
    remove_files(out_dir, CHAT_FILES)  # a chat dataset's masks would make train.py read these as conversations
    copy = os.path.join(out_dir, TRAINED_FILE)
    if trained is not None:
        if os.path.abspath(trained.path) != os.path.abspath(copy):
            with open(trained.path, 'rb') as f:
                write_atomic(copy, f.read())
        options.update(tokenizer_file=TRAINED_FILE, tokenizer_sha256=trained.sha256,
                       tokenizer_source=(base or {}).get('tokenizer_source', os.path.abspath(trained.path)))
    elif os.path.exists(copy):
        os.remove(copy)  # another dataset's tokenizer would decode these ids wrongly
    for s in ('train', 'val'):
        if os.path.exists(partial[s]):
            os.replace(partial[s], os.path.join(out_dir, f'{s}.bin'))
    inputs = (base.get('inputs', []) if base else []) + [fingerprint.split(' onto ')[0]]
    summary = write_summary(out_dir, tokenizer, vocab_size,
                            documents=state['documents'] + (base['documents'] if base else 0),
                            characters=state['characters'] + (base['characters'] if base else 0),
                            **options, inputs=inputs)
    shutil.rmtree(os.path.join(out_dir, WORK))
    return summary


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
    hold(out_dir, 'prepare')  # one writer per dataset folder (nanogpt/lock.py)
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
    try:
        for s, dset in tokenized.items():
            partial = os.path.join(work, f'{s}.bin.partial')
            with open(partial, 'wb') as f:
                for tbl in tqdm(dset.with_format('arrow').iter(batch_size=16384), desc=f'writing {s}.bin',
                                total=-(-len(dset) // 16384)):
                    f.write(tbl['ids'].combine_chunks().flatten().to_numpy().astype(np.uint16).tobytes())
                    chars += sum(tbl['chars'].to_pylist())
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        disk_full(e, out_dir)
    remove_files(out_dir, ('meta.pkl',) + CHAT_FILES)  # another dataset's, which would misread these ids
    for s in tokenized:
        os.replace(os.path.join(work, f'{s}.bin.partial'), os.path.join(out_dir, f'{s}.bin'))
    shutil.rmtree(work)
    return write_summary(out_dir, 'gpt2', GPT2_VOCAB, documents=len(ds), characters=chars,
                         split=f"datasets train_test_split test_size={test_size} seed={seed}", source=source)
