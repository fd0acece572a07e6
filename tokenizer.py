"""
Picking a tokenizer, shared by the prepare scripts, sample.py and the evaluation tools.

GPT-2 BPE comes from tiktoken. tiktoken downloads its files on first use; on a machine without that
access, set NANOGPT_LOCAL_DATA to a folder of local copies laid out as

    $NANOGPT_LOCAL_DATA/gpt2_bpe/gpt2.tiktoken         GPT-2 BPE ranks (r50k_base.tiktoken), sha256-checked
    $NANOGPT_LOCAL_DATA/tinyshakespeare/input.txt      the tiny shakespeare text

and every script takes its files from there instead of the network. The ranks file, tiktoken's pattern
and the <|endoftext|> special token make exactly tiktoken's "gpt2" encoding.
"""

import os
import pickle
import sys
from functools import lru_cache

import numpy as np

LOCAL_DATA_ENV = 'NANOGPT_LOCAL_DATA'
GPT2_BPE_FILE = 'gpt2_bpe/gpt2.tiktoken'
GPT2_BPE_SHA256 = '306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930'
GPT2_EOT = 50256
GPT2_VOCAB = 50257


def local_copy(relpath):
    """Path of relpath under $NANOGPT_LOCAL_DATA, or None when the variable is unset."""
    root = os.environ.get(LOCAL_DATA_ENV)
    if not root:
        return None
    path = os.path.join(root, relpath)
    if not os.path.exists(path):
        raise SystemExit(f"error: {LOCAL_DATA_ENV}={root} but {path} does not exist")
    return path


@lru_cache(maxsize=None)
def gpt2_encoding():
    """tiktoken's GPT-2 encoding, from the local copy when NANOGPT_LOCAL_DATA is set."""
    import tiktoken
    path = local_copy(GPT2_BPE_FILE)
    if path is None:
        try:
            return tiktoken.get_encoding('gpt2')
        except Exception as e:  # requests' connection errors, hash mismatch of a partial download
            raise SystemExit(
                f"error: could not fetch the GPT-2 BPE files for tiktoken ({type(e).__name__}). Without network "
                f"access, set {LOCAL_DATA_ENV} to a folder holding {GPT2_BPE_FILE} (tiktoken's r50k_base.tiktoken, "
                f"sha256 {GPT2_BPE_SHA256[:12]}...)") from None
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext.openai_public import r50k_pat_str
    try:
        ranks = load_tiktoken_bpe(path, expected_hash=GPT2_BPE_SHA256)
    except ValueError:
        raise SystemExit(f"error: {path} is not the GPT-2 BPE ranks file (sha256 differs from "
                         f"{GPT2_BPE_SHA256}); replace it with tiktoken's r50k_base.tiktoken") from None
    return tiktoken.Encoding(name='gpt2', pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={'<|endoftext|>': GPT2_EOT}, explicit_n_vocab=GPT2_VOCAB)


class CharTokenizer:
    """Character-level tokenizer from a dataset's meta.pkl ({vocab_size, itos, stoi})."""

    def __init__(self, meta):
        self.stoi, self.itos = meta['stoi'], meta['itos']
        self.vocab_size = meta['vocab_size']

    def encode(self, s):
        missing = sorted(set(c for c in s if c not in self.stoi))
        if missing:
            shown = ', '.join(repr(c) for c in missing[:10])
            raise ValueError(f"the text has characters the model's vocabulary lacks: {shown}")
        return [self.stoi[c] for c in s]

    def decode(self, ids):
        return ''.join(self.itos.get(i, '') for i in ids)


class GPT2Tokenizer:
    """GPT-2 BPE; decode drops ids past the tokenizer's vocabulary (a padded model can emit them)."""
    vocab_size = GPT2_VOCAB
    eot = GPT2_EOT

    def __init__(self):
        self.enc = gpt2_encoding()

    def encode(self, s):
        return self.enc.encode(s, allowed_special={'<|endoftext|>'})

    def decode(self, ids):
        return self.enc.decode([i for i in ids if i < GPT2_VOCAB])


def load_meta(data_dir):
    """The dataset's meta.pkl as a dict, or None when it has none (GPT-2 BPE datasets)."""
    path = os.path.join(data_dir, 'meta.pkl')
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as f:
        return pickle.load(f)


def data_dtype(meta):
    """The token dtype of a dataset's .bin files: uint16 unless its meta says otherwise."""
    return np.dtype((meta or {}).get('dtype', 'uint16'))


def tokenizer_for(meta):
    """The tokenizer a dataset was prepared with: characters when its meta has stoi, else GPT-2 BPE."""
    if meta is not None and 'stoi' in meta:
        return CharTokenizer(meta)
    return GPT2Tokenizer()


if __name__ == '__main__':
    # quick check: python tokenizer.py "some text"
    enc = gpt2_encoding()
    text = ' '.join(sys.argv[1:]) or 'Hello world'
    print(enc.encode_ordinary(text))
