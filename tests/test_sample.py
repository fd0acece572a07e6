"""sample.py as a user runs it: batches, seeds, greedy and nucleus sampling, streaming, <|endoftext|>, errors."""
import os
import subprocess
import sys
import time

import pytest
import torch

from nanogpt.checkpoint import save_checkpoint
from harness import ROOT, run
from model import GPT, GPTConfig
from nanogpt.tokenizer import GPT2_EOT

SEP = '---------------'


@pytest.fixture(scope='module')
def char_ckpt(tmp_path_factory, shakespeare_char):
    """A random character-level model (vocabulary of data/shakespeare_char, block 32)."""
    out = tmp_path_factory.mktemp('char')
    torch.manual_seed(0)
    args = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=65, bias=False, dropout=0.0)
    model = GPT(GPTConfig(**args))
    save_checkpoint(str(out), dict(model=model.state_dict(), model_args=args, config=dict(dataset='shakespeare_char')))
    return str(out)


@pytest.fixture(scope='module')
def bpe_ckpt(tmp_path_factory):
    """A GPT-2-vocabulary model padded to 50304 whose output is fixed: the padded id 50300 first, then
    <|endoftext|>, then the rest (its last LayerNorm has zero gain, so every position gives the same logits)."""
    out = tmp_path_factory.mktemp('bpe')
    torch.manual_seed(0)
    args = dict(n_layer=1, n_head=1, n_embd=16, block_size=16, vocab_size=50304, bias=True, dropout=0.0)
    model = GPT(GPTConfig(**args))
    with torch.no_grad():
        h = torch.randn(16)
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(h)
        model.lm_head.weight[50300] = h
        model.lm_head.weight[GPT2_EOT] = 0.5 * h
    save_checkpoint(str(out), dict(model=model.state_dict(), model_args=args, config=dict(dataset='openwebtext')))
    return str(out)


def sample(ckpt, *args, expect=0):
    return run(['sample.py', f'--out_dir={ckpt}', '--max_new_tokens=60', *args], expect=expect)


def samples(stdout, prompt):
    """The samples printed after the settings, split at the separator lines; each starts with the prompt."""
    lines = stdout.splitlines(keepends=True)
    while lines and lines[0].startswith(('Overriding', 'Loading meta')):
        lines.pop(0)
    parts = ''.join(lines).split(SEP + '\n')
    assert all(p.startswith(prompt) for p in parts[:-1])
    assert parts[-1] == ''
    return [p[:-1] for p in parts[:-1]]  # each sample ends with a newline before its separator


def test_batch_of_samples_same_seed_same_text(char_ckpt):
    a = sample(char_ckpt, '--start=ROMEO:', '--num_samples=3', '--temperature=1.0').stdout
    b = sample(char_ckpt, '--start=ROMEO:', '--num_samples=3', '--temperature=1.0').stdout
    c = sample(char_ckpt, '--start=ROMEO:', '--num_samples=3', '--temperature=1.0', '--seed=7').stdout
    sa = samples(a, 'ROMEO:')
    assert len(sa) == 3
    assert all(s.startswith('ROMEO:') and len(s) == len('ROMEO:') + 60 for s in sa)
    assert len(set(sa)) == 3  # the batch holds independent samples
    assert samples(b, 'ROMEO:') == sa  # same seed, same text
    assert samples(c, 'ROMEO:') != sa


def test_greedy_and_tiny_top_p_give_the_most_likely_tokens(char_ckpt):
    greedy = samples(sample(char_ckpt, '--start=KING', '--num_samples=2', '--temperature=0').stdout, 'KING')
    nucleus = samples(sample(char_ckpt, '--start=KING', '--num_samples=2', '--temperature=1.0',
                             '--top_p=1e-9', '--seed=3').stdout, 'KING')
    assert greedy[0] == greedy[1]
    assert nucleus == greedy
    assert len(greedy[0]) == len('KING') + 60


def test_never_emits_padded_ids_and_stops_at_eot(bpe_ckpt):
    # 50300 is the most likely id but not a GPT-2 token: every step must give the next best, <|endoftext|>
    p = sample(bpe_ckpt, '--start=Hello', '--num_samples=2', '--temperature=0', '--max_new_tokens=5')
    assert samples(p.stdout, 'Hello') == ['Hello' + '<|endoftext|>' * 5] * 2
    p = sample(bpe_ckpt, '--start=Hello', '--num_samples=2', '--temperature=0', '--stop_at_eot=True')
    assert samples(p.stdout, 'Hello') == ['Hello'] * 2


def test_tokens_stream_while_generating(char_ckpt):
    # a million tokens take minutes; the first ones must be on stdout long before the end
    proc = subprocess.Popen([sys.executable, 'sample.py', f'--out_dir={char_ckpt}', '--start=ROMEO:',
                             '--num_samples=1', '--max_new_tokens=1000000'], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        out = b''
        deadline = time.time() + 120
        while time.time() < deadline:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
            if b'ROMEO:' in out and len(out.split(b'ROMEO:', 1)[1]) >= 200:
                break
        assert proc.poll() is None, "sample.py finished or failed before its output was read"
        assert len(out.split(b'ROMEO:', 1)[1]) >= 200
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize('args, message', [
    (['--start=ROMEO: ¿qué?'], "'¿', 'é'"),
    (['--temperature=-0.5'], 'temperature must be 0'),
    (['--top_p=0'], 'top_p must be above 0'),
    (['--start='], 'the prompt is empty'),
    (['--window_shift=0'], 'window_shift must be a whole number of tokens, 1 or more'),
    (['--window_shift=half'], 'window_shift must be a whole number of tokens, 1 or more'),
])
def test_bad_settings_fail_with_a_clear_error(char_ckpt, args, message):
    p = sample(char_ckpt, *args, expect=None)
    assert p.returncode == 2
    assert message in p.stderr
    assert SEP not in p.stdout


def test_char_model_without_its_vocabulary_is_a_clear_error(char_ckpt, tmp_path):
    """Run from another folder, data/shakespeare_char/meta.pkl is out of reach: GPT-2 BPE would feed ids
    beyond a 65-token model, so sample.py refuses with the reason instead."""
    p = run([os.path.join(ROOT, 'sample.py'), f'--out_dir={char_ckpt}', '--max_new_tokens=5', '--device=cpu'],
            cwd=str(tmp_path), expect=None)
    assert p.returncode == 2
    assert 'meta.pkl' in p.stderr and '65 token ids' in p.stderr
    assert 'Traceback' not in p.stderr
