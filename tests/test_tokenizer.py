"""GPT-2 BPE from the local copy equals tiktoken's; the prepared datasets have the reference's counts."""
import glob
import os
import pickle
import shutil

import numpy as np
import pytest

from harness import ROOT, SHARED, run
from nanogpt import tokenizer

R50K_CACHE_KEY = '0ea1e91bbb3a60f729a8dc8f777fd2fc07cd8df4'  # sha1 of r50k_base's URL: tiktoken's cache name


@pytest.fixture(scope='module')
def tiktoken_r50k(tmp_path_factory):
    """tiktoken's own r50k_base (= gpt2) encoding, loaded offline through its standard cache folder."""
    import tiktoken
    cache = tmp_path_factory.mktemp('tiktoken_cache')
    shutil.copy(os.path.join(SHARED, 'gpt2_bpe', 'gpt2.tiktoken'), cache / R50K_CACHE_KEY)
    old = os.environ.get('TIKTOKEN_CACHE_DIR')
    os.environ['TIKTOKEN_CACHE_DIR'] = str(cache)
    try:
        return tiktoken.get_encoding('r50k_base')
    finally:
        if old is None:
            del os.environ['TIKTOKEN_CACHE_DIR']
        else:
            os.environ['TIKTOKEN_CACHE_DIR'] = old


def test_hello_world():
    assert tokenizer.gpt2_encoding().encode_ordinary("Hello world") == [15496, 995]
    assert tokenizer.GPT2Tokenizer().encode("Hello world<|endoftext|>") == [15496, 995, 50256]


def test_local_bpe_gives_tiktokens_ids(tiktoken_r50k):
    enc = tokenizer.gpt2_encoding()
    assert enc.n_vocab == tiktoken_r50k.n_vocab == 50257
    with open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt'), encoding='utf-8') as f:
        texts = [f.read()]
    tang = sorted(glob.glob(os.path.join(SHARED, 'tang_poems', '*.json')))[0]
    with open(tang, encoding='utf-8') as f:
        texts.append(f.read()[:200_000])  # Chinese, punctuation, JSON
    texts += ["  leading spaces\n\n\ttabs\r\nand 's 't 're 've 'm 'll 'd", "emoji 🤖👍🏽 and café naïve",
              "numbers 1234567 3.14159 -0.5e-3", "<|endoftext|> as plain text", "", " ", "\u00a0\u2003 odd spaces"]
    for text in texts:
        ids = enc.encode_ordinary(text)
        assert ids == tiktoken_r50k.encode_ordinary(text)
        assert enc.decode(ids) == text
    mixed = "one<|endoftext|>two"
    assert enc.encode(mixed, allowed_special='all') == tiktoken_r50k.encode(mixed, allowed_special='all')


def test_wrong_bpe_file_is_a_clear_error(tmp_path):
    (tmp_path / 'gpt2_bpe').mkdir()
    with open(os.path.join(SHARED, 'gpt2_bpe', 'gpt2.tiktoken'), 'rb') as f:
        data = f.read()
    (tmp_path / 'gpt2_bpe' / 'gpt2.tiktoken').write_bytes(data[:-200])  # a truncated copy
    p = run(['-m', 'nanogpt.tokenizer', 'Hello'], expect=None, env={'NANOGPT_LOCAL_DATA': str(tmp_path)})
    assert p.returncode != 0
    assert 'is not the GPT-2 BPE ranks file (sha256 differs' in p.stderr
    assert 'Traceback' not in p.stderr
    p = run(['-m', 'nanogpt.tokenizer', 'Hello'], expect=None, env={'NANOGPT_LOCAL_DATA': str(tmp_path / 'nowhere')})
    assert p.returncode != 0 and 'does not exist' in p.stderr and 'Traceback' not in p.stderr


def counts(name):
    d = os.path.join(ROOT, 'data', name)
    return [np.memmap(os.path.join(d, f'{s}.bin'), dtype=np.uint16, mode='r') for s in ('train', 'val')]


def test_shakespeare_char_counts():
    p = run(['data/shakespeare_char/prepare.py'])
    assert 'train has 1,003,854 tokens' in p.stdout and 'val has 111,540 tokens' in p.stdout
    train, val = counts('shakespeare_char')
    assert (len(train), len(val)) == (1_003_854, 111_540)
    with open(os.path.join(ROOT, 'data', 'shakespeare_char', 'meta.pkl'), 'rb') as f:
        meta = pickle.load(f)
    assert meta['vocab_size'] == 65
    with open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt'), encoding='utf-8') as f:
        text = f.read()
    decoded = ''.join(meta['itos'][i] for i in np.concatenate([train, val]).tolist())
    assert decoded == text


def test_shakespeare_bpe_counts():
    p = run(['data/shakespeare/prepare.py'])
    assert 'train has 301,966 tokens' in p.stdout and 'val has 36,059 tokens' in p.stdout
    train, val = counts('shakespeare')
    assert (len(train), len(val)) == (301_966, 36_059)
    assert tokenizer.gpt2_encoding().decode(val.tolist())[:20] == "?\n\nGREMIO:\nGood morr"
