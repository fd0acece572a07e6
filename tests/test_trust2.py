"""Trust, round two (issue 21 points 3, 5, 6): files from elsewhere and careless inputs end in one `error:` line
(exit 2), never a traceback or a silent wrong result; prepare_chat.py and train_tokenizer.py take the folder
lock, survive a kill and a full disk (a real tmpfs where this machine lets us mount one, else `ulimit -f`)."""
import functools
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from harness import ROOT, SHARED, TINY, Result, _run_here

EN = os.path.join(SHARED, 'chat', 'chatterbot_en.jsonl')
SHAKESPEARE = os.path.join(SHARED, 'tinyshakespeare', 'input.txt')
PY = sys.executable


def here(*args):
    """Run a project script in this process (as harness.run does for train.py): a Result, any exit code."""
    return _run_here([str(a) for a in args], ROOT)


def one_line(r, words):
    """Exit 2 with exactly one `error:` line holding words, and no traceback."""
    errors = [line for line in r.out.splitlines() if line.startswith('error: ')]
    assert r.returncode == 2 and len(errors) == 1 and words in errors[0] and 'Traceback' not in r.out, r.out[-3000:]


def write_lines(path, lines, opener=open):
    with opener(path, 'wt', encoding='utf-8') as f:
        f.write(''.join(line + '\n' for line in lines))
    return str(path)


def conversations(n, start=0):
    with open(EN, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f][start:start + n]


def documents(n):
    text = open(SHAKESPEARE, encoding='utf-8').read()
    return [json.dumps({'text': text[i * 500:(i + 1) * 500]}) for i in range(n)]


@pytest.fixture(scope='module')
def char_ds(tmp_path_factory):
    """A small character-level dataset (58 ids, meta.pkl, summary.json), made directly."""
    from nanogpt.dataset import char_meta, write_bin, write_meta, write_summary
    d = tmp_path_factory.mktemp('char') / 'ds'
    d.mkdir()
    text = open(SHAKESPEARE, encoding='utf-8').read()[:30000]
    meta = char_meta(sorted(set(text)))
    ids = [meta['stoi'][c] for c in text]
    write_bin(str(d / 'train.bin'), ids[:27000], meta['vocab_size'])
    write_bin(str(d / 'val.bin'), ids[27000:], meta['vocab_size'])
    write_meta(str(d), meta)
    write_summary(str(d), 'char', meta['vocab_size'], documents=1, characters=len(text))
    return d


@pytest.fixture(scope='module')
def chat_ds(tmp_path_factory):
    """A small GPT-2 BPE chat dataset made by prepare_chat.py."""
    t = tmp_path_factory.mktemp('chat')
    src = write_lines(t / 'en.jsonl', conversations(80))
    r = here('data/prepare_chat.py', src, f'--out_dir={t / "ds"}', '--block_size=64', '--val_fraction=0.2')
    assert r.returncode == 0, r.out
    return t / 'ds'


@pytest.fixture(scope='module')
def tokenizer_json(tmp_path_factory):
    """The spec of a small byte-level BPE tokenizer.json, as data/train_tokenizer.py makes them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from nanogpt.tokenizer import RESERVED_TOKENS
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator([open(SHAKESPEARE, encoding='utf-8').read()[:40000]], trainers.BpeTrainer(
        vocab_size=350, special_tokens=list(RESERVED_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return json.loads(tk.to_str())


def copy_ds(src, dst):
    shutil.copytree(src, dst)
    return dst


def edit_summary(d, change):
    s = json.loads((d / 'summary.json').read_text())
    (d / 'summary.json').write_text(json.dumps(change(s)))


# -----------------------------------------------------------------------------------------------------------
# point 5: each traceback case of the issue is one line and exit 2

DEEP = '{"text": ' + '[' * 200_000 + ']' * 200_000 + '}'
SURROGATE = '{"text": "half of a pair: \\ud800 here"}'
BIG_INT = '{"text": "a number", "n": ' + '9' * 5000 + '}'
CHAT_DEEP = '{"messages": ' + '[' * 200_000 + ']' * 200_000 + '}'
CHAT_SURROGATE = ('{"messages": [{"role": "user", "content": "hi \\udc00"}, '
                  '{"role": "assistant", "content": "hello"}]}')
CHAT_BIG_INT = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], ' \
               '"id": ' + '9' * 5000 + '}'
JSON_LINES = {
    'json_deep_prepare_local': ('prepare_local', DEEP, "nests arrays or objects deeper"),
    'json_surrogate_prepare_local': ('prepare_local', SURROGATE, "holds a lone UTF-16 surrogate"),
    'json_5000_digits_prepare_local': ('prepare_local', BIG_INT, "holds a number of more than 4,300 digits"),
    'json_deep_prepare_chat': ('prepare_chat', CHAT_DEEP, "nests arrays or objects deeper"),
    'json_surrogate_prepare_chat': ('prepare_chat', CHAT_SURROGATE, "holds a lone UTF-16 surrogate"),
    'json_5000_digits_prepare_chat': ('prepare_chat', CHAT_BIG_INT, "holds a number of more than 4,300 digits"),
}


@pytest.mark.parametrize('case', list(JSON_LINES))
def test_json_line_cases(case, tmp_path):
    script, bad, words = JSON_LINES[case]
    if script == 'prepare_local':
        src = write_lines(tmp_path / 'in.jsonl', documents(20) + [bad] + documents(3))
        r = here('data/prepare_local.py', src, f'--out_dir={tmp_path / "ds"}', '--num_proc=1')
        one_line(r, f"in.jsonl line 21: it {words}")
    else:
        src = write_lines(tmp_path / 'in.jsonl', conversations(20) + [bad] + conversations(3))
        r = here('data/prepare_chat.py', src, f'--out_dir={tmp_path / "ds"}', '--block_size=64')
        one_line(r, f"in.jsonl line 21: it {words}")
        assert '--skip_malformed' in r.out
    assert not os.path.exists(tmp_path / 'ds' / 'train.bin')


@pytest.mark.parametrize('script', ['prepare_local', 'prepare_chat'])
def test_gzip_corrupted_mid_stream(script, tmp_path):
    """zlib.error (not an OSError) from a .jsonl.gz whose second gzip member starts with an invalid deflate block."""
    lines = documents(400) if script == 'prepare_local' else conversations(400)
    second = bytearray(gzip.compress(''.join(line + '\n' for line in lines[200:]).encode()))
    second[10] = 0xff  # the first byte after the 10-byte header: block type 3, which deflate does not have
    src = tmp_path / 'in.jsonl.gz'
    src.write_bytes(gzip.compress(''.join(line + '\n' for line in lines[:200]).encode()) + bytes(second))
    if script == 'prepare_local':
        r = here('data/prepare_local.py', src, f'--out_dir={tmp_path / "ds"}', '--num_proc=1')
        one_line(r, "in.jsonl.gz is not a readable .jsonl.gz file (Error -3 while decompressing data")
    else:
        r = here('data/prepare_chat.py', src, f'--out_dir={tmp_path / "ds"}', '--block_size=64')
        one_line(r, "in.jsonl.gz (error: Error -3 while decompressing data")


@pytest.mark.parametrize('role', [['user'], {'r': 'user'}], ids=['role_list', 'role_dict'])
def test_chat_role_that_is_not_a_string(role, tmp_path):
    bad = json.dumps({'messages': [{'role': role, 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]})
    src = write_lines(tmp_path / 'in.jsonl', conversations(10) + [bad])
    r = here('data/prepare_chat.py', src, f'--out_dir={tmp_path / "ds"}', '--block_size=64')
    one_line(r, "in.jsonl line 11: turn 1 has unknown role")


def _wordlevel(spec):
    vocab = {p: i for i, p in enumerate(['<|endoftext|>', 'hello', 'world', 'a b'])}
    return {**spec, 'model': {'type': 'WordLevel', 'vocab': vocab, 'unk_token': '<|endoftext|>'}}


def _gap(spec):
    vocab = spec['model']['vocab']
    last = max(vocab, key=vocab.get)
    vocab[last] += 7  # ids ... 348, 356
    return spec


def _shared_id(spec):
    vocab = spec['model']['vocab']
    a, b = sorted(vocab, key=vocab.get)[-2:]
    vocab[b] = vocab[a]  # two tokens, one id
    return spec


TOKENIZERS = {
    'tokenizer_wordlevel': (_wordlevel, "is not a byte-level BPE tokenizer (its model is WordLevel)"),
    'tokenizer_id_gap': (_gap, "no token has id 349"),
    # point 6: lossy, though accepted before
    'tokenizer_lowercase': (lambda s: {**s, 'normalizer': {'type': 'Lowercase'}}, "has a normalizer (Lowercase)"),
    'tokenizer_shared_id': (_shared_id, "two tokens share id 348"),
}


@pytest.mark.parametrize('case', list(TOKENIZERS))
def test_tokenizer_json_that_would_not_decode_exactly(case, tokenizer_json, tmp_path):
    change, words = TOKENIZERS[case]
    path = tmp_path / 'tokenizer.json'
    path.write_text(json.dumps(change(json.loads(json.dumps(tokenizer_json)))))
    src = write_lines(tmp_path / 'in.jsonl', documents(30))
    r = here('data/prepare_local.py', src, f'--tokenizer={path}', f'--out_dir={tmp_path / "ds"}', '--num_proc=1')
    one_line(r, words)


SUMMARIES = {
    'list': (lambda s: [], "it holds a JSON list, not an object"),
    'wrong_types': (lambda s: {**s, 'train_tokens': 'many', 'documents': 'some'}, "its 'train_tokens' is \"many\""),
    'dtype_object': (lambda s: {**s, 'dtype': 'object', 'train_tokens': s['train_tokens'] // 4,  # sizes agree
                                'val_tokens': s['val_tokens'] // 4}, "its 'dtype' is \"object\", not uint16 or uint32"),
    'no_sha256': (lambda s: {k: v for k, v in s.items() if not k.endswith('_sha256')}, "it has no 'train_sha256'"),
}


@pytest.mark.parametrize('script', ['train', 'count_tokens', 'merge_bins'])
@pytest.mark.parametrize('case', list(SUMMARIES))
def test_crafted_summary_json(case, script, char_ds, tmp_path):
    change, words = SUMMARIES[case]
    d = copy_ds(char_ds, tmp_path / 'ds')
    edit_summary(d, change)
    if script == 'train':
        os.remove(d / 'meta.pkl')  # GPT-2 ids, as most datasets: no meta.pkl to compare the dtype with
        r = here('train.py', *TINY, f'--dataset={d}', f'--out_dir={tmp_path / "out"}', '--max_iters=1')
    elif script == 'count_tokens':
        r = here('data/count_tokens.py', d, '--verify')
    else:
        r = here('data/merge_bins.py', char_ds, d, f'--out_dir={tmp_path / "merged"}')
    one_line(r, f"{d}/summary.json is not a dataset's summary.json: {words}")
    assert not os.path.exists(tmp_path / 'merged' / 'train.bin') and not os.path.exists(tmp_path / 'out' / 'ckpt.pt')


def test_understated_max_token_id(char_ds, tmp_path):
    """ids up to 99 in a 58-id dataset whose summary.json says the largest is 40: one line, not an IndexError."""
    d = copy_ds(char_ds, tmp_path / 'ds')
    for split in ('train', 'val'):
        n = os.path.getsize(d / f'{split}.bin') // 2
        np.random.default_rng(0).integers(0, 100, n).astype(np.uint16).tofile(d / f'{split}.bin')
    edit_summary(d, lambda s: {**s, 'max_token_id': 40})
    r = here('train.py', *TINY, f'--dataset={d}', f'--out_dir={tmp_path / "out"}', '--max_iters=2')
    one_line(r, "train.bin holds token id 99 but the model's vocabulary has only 58 ids")


CONFIGS = {
    'tokenizer_sha256_int': ({'dataset': 'shakespeare_char', 'tokenizer_sha256': 5}, "config's tokenizer_sha256 is 5"),
    'dataset_int': ({'dataset': 5}, "its config's dataset is 5, not a string"),
    'config_list': (['dataset'], "its config is a list, not a dict"),
}


@pytest.mark.parametrize('script', ['sample', 'chat'])
@pytest.mark.parametrize('case', list(CONFIGS))
def test_checkpoint_config_of_wrong_types(case, script, char_ds, tmp_path):
    import torch
    from model import GPT, GPTConfig
    config, words = CONFIGS[case]
    args = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, bias=True, vocab_size=65, dropout=0.0)
    torch.save({'model': GPT(GPTConfig(**args)).state_dict(), 'model_args': args, 'config': config, 'iter_num': 1,
                'best_val_loss': 9.0}, tmp_path / 'ckpt.pt')
    given = [f'--dataset={char_ds}'] if case == 'tokenizer_sha256_int' else []
    if script == 'sample':
        r = here('sample.py', f'--out_dir={tmp_path}', '--device=cpu', '--num_samples=1', '--max_new_tokens=2', *given)
    else:
        r = here('chat.py', f'--out_dir={tmp_path}', '--device=cpu', '--prompt=hi', *given)
    one_line(r, words)


@pytest.mark.parametrize('arg,words', [('--max_chars=nan', "--max_chars must be a number of characters above 0"),
                                       ('--min_frequency=-3', "--min_frequency must be 0 or more")],
                         ids=['max_chars_nan', 'min_frequency_negative'])
def test_train_tokenizer_numbers(arg, words, tmp_path):
    src = write_lines(tmp_path / 'in.jsonl', documents(30))
    r = here('data/train_tokenizer.py', src, '--vocab_size=300', f'--out_dir={tmp_path / "tok"}', arg)
    one_line(r, words)


@pytest.mark.parametrize('script', ['prepare_chat', 'train_tokenizer'])
def test_empty_out_dir(script, tmp_path):
    if script == 'prepare_chat':
        src = write_lines(tmp_path / 'in.jsonl', conversations(30))
        r = here('data/prepare_chat.py', src, '--out_dir=', '--block_size=64')
    else:
        src = write_lines(tmp_path / 'in.jsonl', documents(30))
        r = here('data/train_tokenizer.py', src, '--vocab_size=300', '--out_dir=')
    one_line(r, "--out_dir is empty")
    assert 'reading' not in r.out  # train_tokenizer: refused before training


# -----------------------------------------------------------------------------------------------------------
# point 6: silent wrong results

def test_merge_bins_refuses_a_chat_dataset(chat_ds, tmp_path):
    r = here('data/merge_bins.py', chat_ds, chat_ds, f'--out_dir={tmp_path / "merged"}')
    one_line(r, f"{chat_ds} is a chat dataset (conversations with loss masks, data/prepare_chat.py)")
    assert not os.path.exists(tmp_path / 'merged' / 'train.bin')


def test_prepare_chat_over_a_character_level_dataset_drops_its_meta(char_ds, tmp_path):
    d = copy_ds(char_ds, tmp_path / 'ds')
    src = write_lines(tmp_path / 'in.jsonl', conversations(60))
    r = here('data/prepare_chat.py', src, f'--out_dir={d}', '--block_size=64', '--val_fraction=0.2', '--overwrite')
    assert r.returncode == 0, r.out
    assert not os.path.exists(d / 'meta.pkl')
    assert json.loads((d / 'summary.json').read_text())['kind'] == 'chat'
    assert not os.path.exists(d / '.prepare_chat')


def test_prepare_local_over_a_chat_dataset_drops_its_masks(chat_ds, tmp_path):
    d = copy_ds(chat_ds, tmp_path / 'ds')
    src = write_lines(tmp_path / 'in.jsonl', documents(60))
    r = here('data/prepare_local.py', src, f'--out_dir={d}', '--num_proc=1', '--overwrite', '--val_fraction=0.1')
    assert r.returncode == 0, r.out
    assert sorted(p for p in os.listdir(d) if p.endswith('.bin')) == ['train.bin', 'val.bin']
    r = here('train.py', *TINY, f'--dataset={d}', f'--out_dir={tmp_path / "out"}', '--max_iters=0', '--eval_only=True')
    assert r.returncode == 0 and 'prepare_chat' not in r.out, r.out[-2000:]


def test_truncated_zst_is_said_to_be_truncated(tmp_path):
    import zstandard
    data = ''.join(line + '\n' for line in documents(200)).encode()
    src = tmp_path / 'in.jsonl.zst'
    src.write_bytes(zstandard.ZstdCompressor().compress(data)[:40])  # whole lines never decoded
    r = here('data/prepare_local.py', src, f'--out_dir={tmp_path / "ds"}', '--num_proc=1')
    one_line(r, "in.jsonl.zst is not a readable .jsonl.zst file (it ends inside a zstandard frame: the file is truncated)")


# -----------------------------------------------------------------------------------------------------------
# point 3: prepare_chat.py and train_tokenizer.py take the folder lock, survive a kill and a full disk

def script_cmd(script, *args):
    return [PY, f'data/{script}.py'] + [str(a) for a in args]


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """Small and larger inputs for both scripts: (chat small, chat all 2,025, documents small)."""
    t = tmp_path_factory.mktemp('inputs')
    with open(EN, encoding='utf-8') as f:
        everything = [line.rstrip('\n') for line in f]
    return (write_lines(t / 'small.jsonl', everything[:40]), write_lines(t / 'all.jsonl', everything),
            write_lines(t / 'docs.jsonl', [json.dumps({'text': json.loads(d)['text'] * 4}) for d in documents(100)]))


def writer(script, inputs, out, big=False):
    chat_small, chat_all, docs = inputs
    if script == 'prepare_chat':
        return script_cmd(script, chat_all if big else chat_small, f'--out_dir={out}', '--block_size=64',
                          '--val_fraction=0.2')
    return script_cmd(script, docs, f'--vocab_size={2000 if big else 300}', f'--out_dir={out}')


def wait_for(p, ready, what, timeout=120):
    t0 = time.time()
    while not ready():
        if p.poll() is not None:
            raise AssertionError(f"exited {p.returncode} before {what}:\n{p.communicate()[0][-3000:]}")
        assert time.time() - t0 < timeout, f"no {what} in {timeout} s"
        time.sleep(0.002)


@pytest.mark.parametrize('script', ['prepare_chat', 'train_tokenizer'])
def test_two_writers_into_one_folder(script, inputs, tmp_path):
    """The first holds the lock (stopped with SIGSTOP while it does, so the two surely overlap); the second is
    refused with the first's pid, and the first then finishes as if alone."""
    out = tmp_path / 'out'
    first = subprocess.Popen(writer(script, inputs, out), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(first, lambda: (out / '.lock').exists() and (out / '.lock').read_text().startswith(f"{first.pid},"),
                 'the lock')
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(writer(script, inputs, out, big=True) + ['--overwrite'], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        one_line(Result([], second.returncode, second.stdout, second.stderr),
                 f"{out} is in use by another process (pid {first.pid}, {script}.py)")
    finally:
        first.send_signal(signal.SIGCONT)
        log = first.communicate(timeout=120)[0]
    assert first.returncode == 0, log[-3000:]
    if script == 'prepare_chat':
        assert json.loads((out / 'summary.json').read_text())['conversations'] == {'train': 30, 'val': 10}
    else:
        assert json.loads((out / 'tokenizer.json').read_text())['model']['vocab'].__len__() == 300


def test_prepare_chat_into_a_live_training_out_dir(inputs, tmp_path):
    """The folder a train.py writes (here: this process holds its lock as train.py would) is refused."""
    from nanogpt import lock
    out = tmp_path / 'out'
    lock.hold(str(out), 'train.py')
    try:
        r = subprocess.run(writer('prepare_chat', inputs, out), cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        lock.release(str(out))
    one_line(Result([], r.returncode, r.stdout, r.stderr), f"{out} is in use by another process (pid {os.getpid()}, train.py)")
    assert sorted(os.listdir(out)) == ['.lock']


@pytest.mark.parametrize('script', ['prepare_chat', 'train_tokenizer'])
def test_killed_writer_runs_again(script, inputs, tmp_path):
    """SIGKILL as soon as the first file of the result is whole (prepare_chat: a train.bin; train_tokenizer: the
    tokenizer.json, under its temporary name or its own): the same command then runs to the end, no --overwrite."""
    import re
    first_file = re.compile(r'train\.bin' if script == 'prepare_chat' else r'tokenizer\.json(\.tmp\.\d+)?')
    for attempt in range(3):  # a kill that comes after the whole run (a very slow poll) proves nothing: again
        out = tmp_path / f'out{attempt}'
        p = subprocess.Popen(writer(script, inputs, out), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seen = lambda: any(first_file.fullmatch(n) for d in (out, out / '.prepare_chat') if d.is_dir()
                           for n in os.listdir(d))
        wait_for(p, seen, 'a written file')
        p.kill()
        p.communicate()
        if not (out / ('summary.json' if script == 'prepare_chat' else 'tokenizer_report.json')).exists():
            break
    else:
        pytest.skip("the kill never came before the end of the run")
    r = subprocess.run(writer(script, inputs, out), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert not [n for n in os.listdir(out) if '.tmp.' in n or n == '.prepare_chat'], os.listdir(out)


@functools.lru_cache(maxsize=None)
def _can_mount_tmpfs():
    try:
        return subprocess.run(['unshare', '-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HOWS = [pytest.param('tmpfs', marks=pytest.mark.skipif(not _can_mount_tmpfs(), reason='no user namespace to mount '
                                                       'a tmpfs in (RLIMIT_FSIZE covers the same code)')), 'fsize']
SNAPSHOT = ("import hashlib, os, sys; d = sys.argv[1]; print(sorted((n, hashlib.sha256(open(os.path.join(d, n), 'rb')"
            ".read()).hexdigest()) for n in os.listdir(d) if n != '.lock'))")


def on_a_small_disk(tmp_path, how, first, second, fsize=32768):
    """Run the commands first (which must succeed) then second, with 'DISK' in them standing for a folder on a
    64 KB tmpfs mounted in a user and mount namespace of this test's own (how='tmpfs': writes end in ENOSPC), or
    on the usual disk with second's files limited to fsize bytes (how='fsize': RLIMIT_FSIZE, EFBIG). Both inside one
    shell: the tmpfs is gone when it ends. Returns second's (exit code, output) and D/ds, D/tok listed with
    their hashes before and after it."""
    import shlex
    disk, t = tmp_path / 'disk', tmp_path / 'report'
    disk.mkdir()
    t.mkdir()
    q = lambda cmd: ' '.join(shlex.quote(str(a).replace('DISK', str(disk))) for a in cmd)
    limit = [PY, '-c', "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, "
             f"({fsize}, {fsize})); "
             "os.execv(sys.argv[1], sys.argv[1:])"] if how == 'fsize' else []
    lines = [f'cd {shlex.quote(ROOT)}', f'mount -t tmpfs -o size=64k tmpfs {disk} || exit 97' if how == 'tmpfs' else '']
    lines += [f'{q(c)} > {t}/first.out 2>&1 || {{ cat {t}/first.out; exit 98; }}' for c in first]
    lines += [f'{q([PY, "-c", SNAPSHOT, sub])} > {t}/before.{n} 2>&1' for n, sub in enumerate(['DISK/ds', 'DISK/tok'])]
    # through a pipe: a limit of 0 bytes would stop the output itself going into a file
    lines += [f'{{ {q(limit + second)}; echo $? > {t}/second.rc; }} 2>&1 | cat > {t}/second.out']
    lines += [f'{q([PY, "-c", SNAPSHOT, sub])} > {t}/after.{n} 2>&1' for n, sub in enumerate(['DISK/ds', 'DISK/tok'])]
    lines += ['exit 0']
    shell = ['unshare', '-rm', 'sh', '-c', '\n'.join(lines)] if how == 'tmpfs' else ['sh', '-c', '\n'.join(lines)]
    r = subprocess.run(shell, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    read = lambda name: (t / name).read_text()
    return (Result(second, int(read('second.rc')), read('second.out').replace(str(disk), 'DISK'), ''),
            [read(f'before.{n}') for n in (0, 1)], [read(f'after.{n}') for n in (0, 1)])


@pytest.mark.parametrize('script,how', [('prepare_chat', 'tmpfs' if _can_mount_tmpfs() else 'fsize'),  # one: slow
                                        pytest.param('train_tokenizer', 'tmpfs', marks=HOWS[0].marks),
                                        ('train_tokenizer', 'fsize')])
def test_full_disk_keeps_what_was_there(script, how, inputs, tmp_path):
    """A first run fits; a larger one with --overwrite does not: one line, exit 2, and the folder as it was (the
    previous dataset or tokenizer.json whole, nothing half-written, no work files left)."""
    sub = 'DISK/ds' if script == 'prepare_chat' else 'DISK/tok'
    r, before, after = on_a_small_disk(tmp_path, how, [writer(script, inputs, sub)],
                                       writer(script, inputs, sub, big=True) + ['--overwrite'])
    why = 'No space left on device' if how == 'tmpfs' else 'File too large'
    kept = 'the dataset there is as it was' if script == 'prepare_chat' else 'no tokenizer.json was written there'
    one_line(r, f"could not write to {sub} ({why}); {kept}")
    assert before == after, (before, after)
    assert "'summary.json'" in before[0] if script == 'prepare_chat' else "'tokenizer.json'" in before[1], before


@pytest.mark.parametrize('how', HOWS)
@pytest.mark.parametrize('script', ['prepare_local', 'merge_bins'])
def test_lock_on_a_disk_without_space(script, how, char_ds, inputs, tmp_path):
    """No space at all: the lock file's own write fails, said in one line (not a traceback from lock.py)."""
    fill = [[PY, '-c', "import sys\nwith open(sys.argv[1], 'wb', buffering=0) as f:\n    try:\n        while True: "
             "f.write(bytes(4096))\n    except OSError: pass", 'DISK/fill']] if how == 'tmpfs' else []
    cmd = (script_cmd(script, inputs[2], '--out_dir=DISK/new', '--num_proc=1') if script == 'prepare_local'
           else script_cmd(script, char_ds, char_ds, '--out_dir=DISK/new'))
    r, _, _ = on_a_small_disk(tmp_path, how, fill, cmd, fsize=0)
    one_line(r, f"cannot write to 'DISK/new' ({'No space left on device' if how == 'tmpfs' else 'File too large'})")
