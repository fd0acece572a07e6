"""The local-corpus route (data/prepare_local.py), the count and merge tools, and train.py's dataset check."""
import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest

import harness
from harness import bad_input, ROOT, SHARED, run
from tokenizer_helpers import trained_tokenizer  # noqa: F401 (a fixture)

EOT = 50256
SHAKESPEARE = open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt'), encoding='utf-8').read()


def enc():
    from nanogpt.tokenizer import gpt2_encoding
    return gpt2_encoding()


def in_val(text, fraction):
    """The documented split rule, written out again: blake2b's first 8 bytes, little-endian, below fraction * 2**64."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), 'little') < fraction * 2 ** 64


def expected(docs, fraction, drop_empty_lines=False):
    out = {'train': [], 'val': []}
    for d in docs:
        if drop_empty_lines:
            d = ''.join(line for line in d.splitlines(keepends=True) if line.strip())
        if d.strip():  # empty and whitespace-only documents are skipped
            out['val' if in_val(d, fraction) else 'train'] += enc().encode_ordinary(d) + [EOT]
    return {k: np.array(v, dtype=np.uint16).tobytes() for k, v in out.items()}


def read(d, split):
    with open(os.path.join(d, f'{split}.bin'), 'rb') as f:
        return f.read()


def prep(*args, expect=0):
    return run(["data/prepare_local.py", *map(str, args)], expect=expect)


def make_corpus(root):
    """A folder of .txt files, a .jsonl and a .tar.gz; returns (paths in order, their documents in order)."""
    texts = ["First doc.\n\nIt has an empty line\n  \nand a blank one.\n", "", "naïve café — 東京 🚀\n",
             "\n\n\n", "<|endoftext|> is plain text here\n", SHAKESPEARE[:3000]]
    folder = root / 'texts'
    (folder / 'sub').mkdir(parents=True)
    docs = []
    for i, t in enumerate(texts):  # sorted walk order: a0.txt ... then sub/
        (folder / f'a{i}.txt').write_text(t, encoding='utf-8')
        docs.append(t)
    (folder / 'sub' / 'z.txt').write_text("in a subfolder\n", encoding='utf-8')
    docs.append("in a subfolder\n")
    (folder / 'notes.md').write_text("not a corpus file")  # ignored
    jl = [SHAKESPEARE[i:i + 700] for i in range(0, 14000, 700)] + ["line one\n\nline three"]
    (root / 'b.jsonl').write_text(''.join(json.dumps({'text': t, 'id': i}) + '\n' for i, t in enumerate(jl)))
    docs += jl
    tar_docs = [("x/one.txt", "tarred text\n\n\nend"), ("x/two.jsonl", json.dumps({'text': 'json in tar'}) + '\n')]
    with tarfile.open(root / 'c.tar.gz', 'w:gz') as tar:
        for name, t in tar_docs:
            data = t.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    docs += ["tarred text\n\n\nend", "json in tar"]
    return [folder, root / 'b.jsonl', root / 'c.tar.gz'], docs


def test_tokens_are_encode_ordinary_with_eot(tmp_path):
    paths, docs = make_corpus(tmp_path)
    for drop in (False, True):
        out = tmp_path / f'out{drop}'
        prep(*paths, f'--out_dir={out}', '--val_fraction=0.3', '--num_proc=2', *(['--drop_empty_lines'] if drop else []))
        want = expected(docs, 0.3, drop)
        assert read(out, 'train') == want['train'] and read(out, 'val') == want['val']
        assert want['val'] and want['train']
        s = json.load(open(out / 'summary.json'))
        assert s['documents'] == sum(1 for d in docs if (expected([d], 0.3, drop)['train'] + expected([d], 0.3, drop)['val']))
        assert s['train_tokens'] * 2 == len(want['train']) and s['dtype'] == 'uint16' and s['tokenizer'] == 'gpt2'
        assert s['train_sha256'] == hashlib.sha256(want['train']).hexdigest()
        assert not (out / 'meta.pkl').exists()  # GPT-2 datasets have none: train.py pads the vocab to 50304
    # empty lines are kept unless asked: the two results differ exactly there
    assert read(tmp_path / 'outFalse', 'train') + read(tmp_path / 'outFalse', 'val') != \
        read(tmp_path / 'outTrue', 'train') + read(tmp_path / 'outTrue', 'val')


def tokenizer_args(kind, request):
    """prepare_local.py's --tokenizer for gpt2 or the tests' trained tokenizer.json."""
    return [] if kind == 'gpt2' else [f"--tokenizer={request.getfixturevalue('trained_tokenizer')[0]}"]


@pytest.mark.parametrize('kind', ['gpt2', 'trained'])
def test_killed_run_resumes_byte_identical(tmp_path, kind, request):
    docs = tmp_path / 'docs'
    docs.mkdir()
    for i in range(30):  # 3 MB of text in 30 files
        (docs / f'{i:03d}.txt').write_text((SHAKESPEARE * 2)[i * 30000:i * 30000 + 100000], encoding='utf-8')
    args = [str(docs), '--val_fraction=0.1', '--num_proc=2', '--shard_mb=0.1', *tokenizer_args(kind, request)]
    prep(*args, f'--out_dir={tmp_path / "whole"}')

    out = tmp_path / 'killed'
    env = dict(os.environ)
    for kill_after in (3, 12):  # kill twice, at different points
        p = subprocess.Popen([sys.executable, 'data/prepare_local.py', *args, f'--out_dir={out}'],
                             cwd=ROOT, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = out / '.prepare' / 'state.json'
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            try:
                if json.loads(state.read_text())['shards'] >= kill_after:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        assert p.poll() is None, "the run finished before it could be killed; use a bigger corpus"
        os.killpg(p.pid, signal.SIGKILL)  # the script and its worker processes
        p.wait()
        assert not (out / 'train.bin').exists() and not (out / 'val.bin').exists()  # nothing partial looks final
    r = prep(*args, f'--out_dir={out}')
    assert 'resuming after' in r.stdout
    for f in ('train.bin', 'val.bin'):
        assert read(out, f[:-4]) == read(tmp_path / 'whole', f[:-4])
    assert not (out / '.prepare').exists()


@pytest.mark.parametrize('kind', ['gpt2', 'trained'])
def test_append_equals_preparing_together_and_cat(tmp_path, kind, request):
    a, b = tmp_path / 'a', tmp_path / 'b.jsonl'
    a.mkdir()
    for i in range(30):
        (a / f'{i:02d}.txt').write_text(SHAKESPEARE[i * 2000:(i + 1) * 2000], encoding='utf-8')
    b.write_text(''.join(json.dumps({'text': SHAKESPEARE[i:i + 1500]}) + '\n' for i in range(100000, 160000, 1500)))
    common = ['--val_fraction=0.2', '--num_proc=1', *tokenizer_args(kind, request)]
    prep(a, f'--out_dir={tmp_path / "A"}', *common)
    prep(a, f'--out_dir={tmp_path / "AB1"}', *common)
    prep(b, f'--out_dir={tmp_path / "AB1"}', '--append', *common)
    prep(a, b, f'--out_dir={tmp_path / "AB2"}', *common)
    prep(b, f'--out_dir={tmp_path / "B"}', *common)
    run(['data/merge_bins.py', tmp_path / 'A', tmp_path / 'B', f'--out_dir={tmp_path / "AB3"}'])
    for split in ('train', 'val'):
        cat = read(tmp_path / 'A', split) + read(tmp_path / 'B', split)
        assert read(tmp_path / 'AB1', split) == read(tmp_path / 'AB2', split) == read(tmp_path / 'AB3', split) == cat
    s1, s2 = (json.load(open(tmp_path / d / 'summary.json')) for d in ('AB1', 'AB2'))
    assert s1['documents'] == s2['documents'] == 30 + 40 and s1['train_sha256'] == s2['train_sha256']
    # the same documents twice is refused, and the dataset stays as it was
    r = prep(b, f'--out_dir={tmp_path / "AB1"}', '--append', *common, expect=None)
    assert r.returncode == 2 and 'already added' in r.stderr
    assert read(tmp_path / 'AB1', 'train') == read(tmp_path / 'AB2', 'train')
    r = run(['data/count_tokens.py', tmp_path / 'AB1', '--verify'])
    assert f"{s1['train_tokens'] + s1['val_tokens']:,} tokens" in r.stdout


def test_bad_inputs(tmp_path):
    out = f'--out_dir={tmp_path / "out"}'
    r = prep(tmp_path / 'missing', out, expect=None)
    assert r.returncode == 2 and 'does not exist' in r.stderr
    (tmp_path / 'empty').mkdir()
    r = prep(tmp_path / 'empty', out, expect=None)
    assert r.returncode == 2 and 'holds no .txt' in r.stderr
    (tmp_path / 'gbk.txt').write_bytes('唐诗'.encode('gb18030'))
    r = prep(tmp_path / 'gbk.txt', out, expect=None)
    assert r.returncode == 2 and 'gbk.txt is not UTF-8' in r.stderr and 'iconv' in r.stderr
    (tmp_path / 'one.txt').write_text('a single document')
    r = prep(tmp_path / 'one.txt', out, expect=None)
    assert r.returncode == 2 and 'no document went to' in r.stderr
    assert not os.path.exists(tmp_path / 'out' / 'train.bin')
    (tmp_path / 'bad.jsonl').write_text('{"body": "x"}\n')
    r = prep(tmp_path / 'bad.jsonl', out, expect=None)
    assert r.returncode == 2 and "no string field 'text'" in r.stderr


# the harness's tiny model made tinier still: a 66,000-character vocabulary makes its embedding the bulk
TINY = harness.TINY + ['--n_head=1', '--n_embd=16', '--block_size=8', '--batch_size=2', '--gradient_accumulation_steps=1',
                       '--max_iters=2', '--eval_iters=1', '--eval_interval=1', '--warmup_iters=0']


def test_uint32_char_vocabulary_trains_and_samples(tmp_path):
    # 66,000 distinct characters: more than uint16 holds
    chars = [chr(c) for c in range(0x4E00, 0x9FFF)] + [chr(c) for c in range(0x20000, 0x20000 + 66000 - (0x9FFF - 0x4E00))]
    docs = tmp_path / 'docs'
    docs.mkdir()
    for i in range(20):
        (docs / f'{i}.txt').write_text(''.join(chars[i::20]), encoding='utf-8')
    d = tmp_path / 'big'
    prep(docs, f'--out_dir={d}', '--tokenizer=char', '--val_fraction=0.3', '--num_proc=1')
    meta = pickle.load(open(d / 'meta.pkl', 'rb'))
    assert meta['vocab_size'] == 66001 and meta['dtype'] == 'uint32'  # the characters and '\n'
    ids = np.concatenate([np.fromfile(d / f'{s}.bin', dtype=np.uint32) for s in ('train', 'val')])
    assert ids.max() > 65535
    text = ''.join(meta['itos'][int(i)] for i in ids)
    assert sorted(text.split('\n')[:-1]) == sorted(''.join(chars[i::20]) for i in range(20))
    out = tmp_path / 'run'
    run(['train.py', *TINY, f'--dataset={d}', f'--out_dir={out}'])
    r = run(['sample.py', f'--out_dir={out}', f'--dataset={tmp_path / "big"}', '--device=cpu', '--num_samples=1', '--max_new_tokens=20',
             f'--start={chars[-1]}'])
    sample = r.stdout.split('---------------')[0]
    sample = sample[sample.rindex(chars[-1]):].rstrip('\n')
    assert len(sample) > 10 and set(sample) <= set(chars) | {'\n'}  # ids above 65535 decode to their characters


def test_train_checks_the_dataset(tmp_path):
    paths, _ = make_corpus(tmp_path)
    d = tmp_path / 'ds'
    prep(*paths, f'--out_dir={d}', '--val_fraction=0.5', '--num_proc=1')
    out = f'--out_dir={tmp_path / "run"}'
    (tmp_path / 'nobin').mkdir()
    r = run(['train.py', *TINY, f'--dataset={tmp_path / "nobin"}', out], expect=None)
    assert r.returncode == 2 and 'prepare' in r.stderr
    with open(d / 'train.bin', 'r+b') as f:  # a train.bin cut short
        f.truncate(os.path.getsize(d / 'train.bin') - 10)
    r = run(['train.py', *TINY, f'--dataset={d}', out], expect=None)
    assert r.returncode == 2 and 'incomplete' in r.stderr
    r = run(['data/count_tokens.py', d], expect=None)
    assert r.returncode == 1 and 'MISMATCH' in r.stdout
    from nanogpt.dataset import check_dataset
    prep(*paths, f'--out_dir={d}', '--val_fraction=0.5', '--num_proc=1', '--overwrite')
    with bad_input() as e:
        check_dataset(str(d), 50000)  # GPT-2 ids up to 50256 do not fit a 50000-id model
    assert e.value.code == 2
    check_dataset(str(d), 50304, 8)


GATE = None  # set by the test below before its pool forks: the worker waits on it


def _wait_for_gate():
    GATE.wait(60)


def test_parts_taken_back_are_encoded_once(tmp_path):
    """Once all is read, prepare's main process takes back the parts no worker has started and encodes them
    itself: a taken-back part's worker task then does nothing, and a part a worker started stays the worker's."""
    import multiprocessing
    from nanogpt import prepare
    global GATE
    ctx = multiprocessing.get_context('fork')
    GATE = ctx.Event()  # nothing is started before the test says so
    started = ctx.Array('q', prepare.SLOTS)
    init = ('gpt2', None, None, started)
    prepare._init_worker(*init)
    parts = [([SHAKESPEARE[i * 1000:(i + 1) * 1000]], i, ('hash', 0.5), False) for i in range(4)]
    with ctx.Pool(1, prepare._init_worker, init) as pool:
        pool.apply_async(_wait_for_gate)
        sent = [prepare._Sent(pool, started, n, args) for n, args in enumerate(parts, 1)]
        sent_to_worker = [s.result for s in sent]
        started[2] = 2  # as a worker that has started part 2 (not finished) leaves it
        for s in sent[1:]:
            s.take_back()
        GATE.set()
        results = [s.get() for s in sent]
        assert [r.get(60) is None for r in sent_to_worker] == [False, False, True, True]
    assert sent[0].result is sent_to_worker[0] and sent[1].result is sent_to_worker[1]
    for got, args in zip(results, parts):
        want = prepare._encode_shard(*args)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2:] == want[2:]
