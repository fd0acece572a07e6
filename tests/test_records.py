"""Run records: the log train.py writes (also across a crash and a resume), plot.py and eval.py."""
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

import harness
from harness import ROOT, run
from nanogpt.checkpoint import build_model, load_checkpoint
from nanogpt.runlog import RunLog, append_row, read_log

# the harness's tiny model without dropout or accumulation, a constant-then-slow learning rate
TINY = harness.TINY + ['--gradient_accumulation_steps=1', '--dropout=0.0', '--eval_interval=10', '--warmup_iters=0',
                       '--learning_rate=3e-3', '--lr_decay_iters=600000']


def rows_of(out_dir, kind):
    return [r for r in read_log(out_dir)[1] if r['kind'] == kind]


def test_log_continuous_across_crash_and_resume(shakespeare_char, tmp_path):
    out = str(tmp_path / 'out')
    args = [sys.executable, 'train.py'] + TINY + [f'--out_dir={out}', '--max_iters=100000']
    # a run killed (SIGKILL, no clean-up) some iterations after its checkpoint at iter 10
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, reached = time.time() + 300, False
        while not reached and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
            reached = os.path.exists(os.path.join(out, 'log.jsonl')) and any(r['iter'] >= 13 for r in rows_of(out, 'train'))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert reached and p.returncode == -signal.SIGKILL, p.stderr.read().decode()[-2000:]
    ckpt_iter = torch.load(os.path.join(out, 'ckpt.pt'))['iter_num']
    before = read_log(out)[1]
    assert any(r['iter'] >= ckpt_iter for r in before)  # rows the resumed run must drop and redo
    kept = [r for r in before if r['iter'] < ckpt_iter]

    last = ckpt_iter + 15
    p = run(['train.py'] + TINY + [f'--out_dir={out}', '--init_from=resume', f'--max_iters={last}'])
    assert (f"run log: the earlier run went on past this checkpoint (iter {ckpt_iter}) before it stopped; its "
            f"{len(before) - len(kept)} rows from iter {ckpt_iter} on were removed from the log, as those iterations "
            f"are trained again now") in p.stdout
    header, after = read_log(out)
    assert header['config']['init_from'] == 'scratch'  # the config once, at the top, from the first run
    assert sum(1 for line in open(os.path.join(out, 'log.jsonl')) if '"kind": "config"' in line) == 1
    assert after[:len(kept)] == kept  # rows before the checkpoint untouched
    train_iters = [r['iter'] for r in after if r['kind'] == 'train']
    eval_iters = [r['iter'] for r in after if r['kind'] == 'eval']
    assert train_iters == list(range(last + 1))  # every iteration once, none twice
    assert eval_iters == list(range(0, last + 1, 10))
    resumes = [r for r in after if r['kind'] == 'resume']
    assert [r['iter'] for r in resumes] == [ckpt_iter]
    assert resumes[0]['config_changes'] == {'init_from': 'resume', 'max_iters': last}
    tpi = header['tokens_per_iter']
    assert tpi == 4 * 32
    for r in after:
        if r['kind'] in ('train', 'eval'):
            assert r['tokens'] == r['iter'] * tpi
            assert r['train_loss'] > 0 and r['lr'] > 0
    assert all(r['val_loss'] > 0 for r in after if r['kind'] == 'eval')
    assert all(r['ms_per_iter'] > 0 for r in after if r['kind'] == 'train')
    assert all(r['mfu_pct'] is None for r in after if r['kind'] == 'train')  # no MFU on a CPU
    # the logged loss is the one train.py printed, and it falls
    train_losses = [r['train_loss'] for r in after if r['kind'] == 'train']
    assert np.mean(train_losses[-5:]) < np.mean(train_losses[:5]) - 0.3


def test_torn_tail_and_earlier_logs_are_safe(tmp_path):
    out = str(tmp_path)
    log = RunLog(out, {'lr': 1.0}, 10)
    for it in range(4):
        log.train(it, 3.0 - it * 0.1, 1e-3, 0.01, -1.0)
    log.eval(4, {'train': 2.5, 'val': 2.6}, 1e-3, 0.1)
    path = os.path.join(out, 'log.jsonl')
    with open(path, 'a') as f:
        f.write('{"kind": "train", "iter": 5, "tok')  # a crash in the middle of a write
    header, rows = read_log(out)  # readers skip the torn line
    assert header['config'] == {'lr': 1.0} and [r['iter'] for r in rows] == [0, 1, 2, 3, 4]
    append_row(out, {'kind': 'evaluate', 'iter': 4, 'val_loss': 2.55})  # cuts the torn tail off first
    assert [r['kind'] for r in read_log(out)[1]] == ['train'] * 4 + ['eval', 'evaluate']
    RunLog(out, {'lr': 2.0}, 10, resume_iter=2)  # resume from a checkpoint at iter 2
    _, rows = read_log(out)
    assert [(r['kind'], r['iter']) for r in rows] == [('train', 0), ('train', 1), ('evaluate', 4), ('resume', 2)]
    assert rows[-1]['tokens'] == 20
    assert rows[-1]['config_changes'] == {'lr': 2.0}
    assert all(line.endswith('\n') for line in open(path))
    RunLog(out, {'lr': 3.0}, 10)  # a fresh run in the same out_dir keeps the old log aside
    assert read_log(os.path.join(out, 'log.1.jsonl'))[1] == rows
    assert read_log(out)[1] == []


def write_log(out_dir, losses, tokens_per_iter):
    log = RunLog(out_dir, {'dataset': 'x'}, tokens_per_iter)
    for it, loss in enumerate(losses):
        if it % 5 == 0:
            log.eval(it, {'train': loss, 'val': loss + 0.1}, 1e-3, -1.0)
        log.train(it, loss, 1e-3, 0.02, 0.05)


def test_plot_writes_png(tmp_path):
    a, b = str(tmp_path / 'lr-a'), str(tmp_path / 'lr-b')
    write_log(a, [4.0 * 0.97 ** i for i in range(30)], 100)
    write_log(b, [4.0 * 0.95 ** i for i in range(20)], 300)
    png = str(tmp_path / 'cmp.png')
    p = run(['plot.py', a, b, '--x=tokens', f'--out={png}'])
    assert 'lr-a: 30 train rows, 6 evaluations' in p.stdout
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image
    img = matplotlib.image.imread(png)
    assert img.shape[0] > 200 and img.shape[1] > 300 and img[..., :3].std() > 0.05  # not blank
    # without matplotlib: a clear message, exit 2, no file
    fake = tmp_path / 'fake'
    (fake / 'matplotlib').mkdir(parents=True)
    (fake / 'matplotlib' / '__init__.py').write_text("raise ImportError('No module named matplotlib')\n")
    p = run(['plot.py', a, f'--out={tmp_path}/none.png'], expect=None, env={'PYTHONPATH': str(fake)})
    assert p.returncode == 2 and 'pip install matplotlib' in p.stderr
    assert not os.path.exists(tmp_path / 'none.png')
    p = run(['plot.py', str(tmp_path / 'nothing'), f'--out={tmp_path}/none.png'], expect=None)
    assert p.returncode != 0 and 'no run log' in p.stderr


def test_eval_whole_val_split_matches_direct_loss(tmp_path):
    # a char-level dataset whose text has multi-byte characters, so bytes != tokens
    from nanogpt.dataset import write_bin, write_meta
    rng = np.random.default_rng(0)
    words = ['the ', 'king ', 'café ', 'naïve ', '唐诗 ', 'and ', '—', '\n']
    text = ''.join(rng.choice(words, size=2000))
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    d = tmp_path / 'data' / 'multibyte'
    d.mkdir(parents=True)
    n = int(len(text) * 0.9)
    write_bin(str(d / 'train.bin'), [stoi[c] for c in text[:n]], len(chars))
    write_bin(str(d / 'val.bin'), [stoi[c] for c in text[n:]], len(chars))
    write_meta(str(d), {'vocab_size': len(chars), 'stoi': stoi, 'itos': dict(enumerate(chars))})
    train = [os.path.join(ROOT, 'train.py')] + TINY + ['--dataset=multibyte', '--out_dir=out', '--max_iters=5']
    run(train, cwd=str(tmp_path))
    p = run([os.path.join(ROOT, 'eval.py'), '--out_dir=out', '--device=cpu', '--batch_size=5'], cwd=str(tmp_path))
    row = [r for r in read_log(str(tmp_path / 'out'))[1] if r['kind'] == 'evaluate'][-1]

    # directly: the model on every window of the val tokens, one window at a time, log-softmax by hand
    ckpt = load_checkpoint(str(tmp_path / 'out'))
    model = build_model(ckpt).eval()
    val = torch.tensor([stoi[c] for c in text[n:]])
    B = ckpt['model_args']['block_size']
    assert (len(val) - 1) % B != 0  # a shorter last window is part of the test
    nll = []
    with torch.no_grad():
        for s in range(0, len(val) - 1, B):
            x, y = val[s:s + B][None], val[s + 1:s + B + 1]
            x = x[:, :len(y)]
            logits, _ = model(x, y[None])
            nll.append(-torch.log_softmax(logits[0].double(), -1).gather(1, y[:, None]).squeeze(1))
    nll = torch.cat(nll)
    assert len(nll) == len(val) - 1 == row['n_tokens']  # every val token but the first, once
    assert abs(row['val_loss'] - nll.mean().item()) < 1e-5
    assert row['iter'] == ckpt['iter_num'] and row['tokens'] == ckpt['iter_num'] * 4 * 32
    # bits per byte: the same nats over the UTF-8 bytes of the predicted tokens' text
    n_bytes = len(text[n + 1:].encode('utf-8'))
    assert row['n_bytes'] == n_bytes > row['n_tokens']
    assert abs(row['bpb'] - row['val_loss'] * row['n_tokens'] / (math.log(2) * n_bytes)) < 1e-12
    assert abs(row['perplexity'] - math.exp(row['val_loss'])) < 1e-9
    assert f"loss {row['val_loss']:.4f}, perplexity {row['perplexity']:.4f}, bits per byte {row['bpb']:.4f}" in p.stdout

    # window_shift=k: the window slides k tokens at a time; target j > B sees t[s:j], s the first multiple of k
    # with s + B >= j (the context sampling with window_shift=k gives it)
    for k in (1, 3):
        run([os.path.join(ROOT, 'eval.py'), '--out_dir=out', '--device=cpu', f'--window_shift={k}'], cwd=str(tmp_path))
        row = [r for r in read_log(str(tmp_path / 'out'))[1] if r['kind'] == 'evaluate'][-1]
        nll = []
        with torch.no_grad():
            for j in range(1, len(val)):
                s = 0 if j <= B else -(-(j - B) // k) * k
                logits, _ = model(val[s:j][None])
                nll.append(-torch.log_softmax(logits[0, -1].double(), -1)[val[j]])
        assert row['n_tokens'] == len(nll) and row['window_shift'] == k
        assert abs(row['val_loss'] - torch.stack(nll).mean().item()) < 1e-5

    # a dataset of another vocabulary: a short error, exit 2, the record untouched
    d = tmp_path / 'data' / 'abc'
    d.mkdir()
    write_bin(str(d / 'val.bin'), [0, 1, 2] * 50, 3)
    write_meta(str(d), {'vocab_size': 3, 'stoi': {'a': 0, 'b': 1, 'c': 2}, 'itos': {0: 'a', 1: 'b', 2: 'c'}})
    log = (tmp_path / 'out' / 'log.jsonl').read_bytes()
    p = run([os.path.join(ROOT, 'eval.py'), '--out_dir=out', '--device=cpu', '--dataset=abc'], cwd=str(tmp_path), expect=None)
    assert p.returncode == 2 and 'trained on another dataset' in p.stderr
    assert (tmp_path / 'out' / 'log.jsonl').read_bytes() == log


def test_eval_gpt2_weights_counts_bpe_bytes(tmp_path):
    # GPT-2 weights from a local save_pretrained folder (a tiny random GPT-2) on a GPT-2 BPE dataset
    from transformers import GPT2Config, GPT2LMHeadModel
    from nanogpt.tokenizer import GPT2_EOT, gpt2_encoding
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64)).save_pretrained(str(tmp_path / 'tiny-gpt2'))
    enc = gpt2_encoding()
    ids = enc.encode_ordinary("Le café était naïf. ") + [GPT2_EOT] + enc.encode_ordinary("唐诗三百首 — poems!\n" * 12)
    d = tmp_path / 'data' / 'bpe'
    d.mkdir(parents=True)
    np.array(ids, dtype=np.uint16).tofile(str(d / 'val.bin'))
    p = run([os.path.join(ROOT, 'eval.py'), f'--init_from={tmp_path}/tiny-gpt2', '--dataset=bpe', '--out_dir=rec',
             '--device=cpu', '--block_size=16'], cwd=str(tmp_path))
    header, rows = read_log(str(tmp_path / 'rec'))
    row = rows[-1]
    assert header['config'] == {'init_from': f'{tmp_path}/tiny-gpt2'} and row['kind'] == 'evaluate'
    n_bytes = len(enc.decode_bytes([t for t in ids[1:] if t != GPT2_EOT]))  # <|endoftext|> counts 0 bytes
    assert row['n_tokens'] == len(ids) - 1 and row['n_bytes'] == n_bytes
    assert abs(row['bpb'] - row['val_loss'] * row['n_tokens'] / (math.log(2) * n_bytes)) < 1e-12
    assert row['iter'] is None and 9 < row['val_loss'] < 12  # a random model: about ln(50257) = 10.8
    assert 'appended to rec/log.jsonl' in p.stdout
