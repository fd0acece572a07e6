"""
Tokenizers: GPT-2 BPE (tiktoken) and characters (a dataset's meta.pkl), and which one a dataset uses.

GPT-2 BPE comes from tiktoken, which downloads its files on first use; with NANOGPT_LOCAL_DATA set (see
localdata.py) the ranks file is read from $NANOGPT_LOCAL_DATA/gpt2_bpe/gpt2.tiktoken instead. That file,
tiktoken's pattern and the <|endoftext|> special token make exactly tiktoken's "gpt2" encoding.
"""

import sys
from functools import lru_cache

from nanogpt.errors import fail
from nanogpt.localdata import LOCAL_DATA_ENV, local_copy

GPT2_BPE_FILE = 'gpt2_bpe/gpt2.tiktoken'
GPT2_BPE_SHA256 = '306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930'
GPT2_EOT = 50256
GPT2_VOCAB = 50257
GPT2_PADDED_VOCAB = 50304  # GPT-2's 50257 rounded up to a multiple of 64, the size of a model trained here
EOT_TOKEN = '<|endoftext|>'  # the document separator
# the chat template's special tokens (nanogpt/chat.py). A trained tokenizer reserves them; GPT-2 BPE puts them in
# the unused ids of the padded vocabulary (50257..50303), so a model trained here holds them without resizing.
CHAT_TOKENS = ('<|system|>', '<|user|>', '<|assistant|>', '<|end|>')
GPT2_SPECIAL_IDS = {EOT_TOKEN: GPT2_EOT, **{t: GPT2_VOCAB + i for i, t in enumerate(CHAT_TOKENS)}}


@lru_cache(maxsize=None)
def gpt2_encoding():
    """tiktoken's GPT-2 encoding, from the local copy when NANOGPT_LOCAL_DATA is set."""
    import tiktoken
    path = local_copy(GPT2_BPE_FILE)
    if path is None:
        try:
            return tiktoken.get_encoding('gpt2')
        except Exception as e:  # requests' connection errors, hash mismatch of a partial download
            fail(f"could not fetch the GPT-2 BPE files for tiktoken ({type(e).__name__}). Without network "
                 f"access, set {LOCAL_DATA_ENV} to a folder holding {GPT2_BPE_FILE} (tiktoken's r50k_base.tiktoken, "
                 f"sha256 {GPT2_BPE_SHA256[:12]}...)")
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext.openai_public import r50k_pat_str
    try:
        ranks = load_tiktoken_bpe(path, expected_hash=GPT2_BPE_SHA256)
    except ValueError:
        fail(f"{path} is not the GPT-2 BPE ranks file (sha256 differs from {GPT2_BPE_SHA256}); "
             f"replace it with tiktoken's r50k_base.tiktoken")
    return tiktoken.Encoding(name='gpt2', pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={EOT_TOKEN: GPT2_EOT}, explicit_n_vocab=GPT2_VOCAB)


# Every tokenizer has: vocab_size, eot (the document separator's id, or None), special ({name: id}),
# encode(text) (a prompt: may hold <|endoftext|>), encode_ordinary(text) (never a special token, whatever the
# text holds), decode(ids) and token_bytes(id) (its UTF-8 bytes, b'' for special tokens).

class CharTokenizer:
    """Character-level tokenizer from a dataset's meta.pkl ({vocab_size, itos, stoi})."""
    eot = None
    special = {}

    def __init__(self, meta):
        self.stoi, self.itos = meta['stoi'], meta['itos']
        self.vocab_size = meta['vocab_size']

    def encode(self, s):
        missing = sorted(set(c for c in s if c not in self.stoi))
        if missing:
            shown = ', '.join(repr(c) for c in missing[:10])
            raise ValueError(f"the text has characters the model's vocabulary lacks: {shown}")
        return [self.stoi[c] for c in s]

    encode_ordinary = encode

    def decode(self, ids):
        return ''.join(self.itos.get(i, '') for i in ids)

    def token_bytes(self, i):
        """The UTF-8 bytes of token i (for bits per byte)."""
        return self.itos[i].encode('utf-8') if i in self.itos else b''


class GPT2Tokenizer:
    """GPT-2 BPE; decode drops ids past the tokenizer's vocabulary (a padded model can emit them)."""
    vocab_size = GPT2_VOCAB
    eot = GPT2_EOT
    special = GPT2_SPECIAL_IDS

    def __init__(self):
        self.enc = gpt2_encoding()

    def encode(self, s):
        return self.enc.encode(s, allowed_special={EOT_TOKEN})

    def encode_ordinary(self, s):
        return self.enc.encode_ordinary(s)

    def decode(self, ids):
        return self.enc.decode([i for i in ids if i < GPT2_VOCAB])

    def token_bytes(self, i):
        """The bytes of token i; the separator <|endoftext|> counts none."""
        return b'' if i >= GPT2_EOT else self.enc.decode_single_token_bytes(i)


def tokenizer_for(meta):
    """The tokenizer a dataset was prepared with: characters when its meta has stoi, else GPT-2 BPE."""
    if meta is not None and 'stoi' in meta:
        return CharTokenizer(meta)
    return GPT2Tokenizer()


if __name__ == '__main__':
    # quick check: python -m nanogpt.tokenizer "some text"
    print(gpt2_encoding().encode_ordinary(' '.join(sys.argv[1:]) or 'Hello world'))
