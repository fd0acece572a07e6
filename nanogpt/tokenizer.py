"""
Tokenizers: GPT-2 BPE (tiktoken), characters (a dataset's meta.pkl) and trained byte-level BPE (a tokenizer.json
made by data/train_tokenizer.py with Hugging Face tokenizers), and which one a dataset uses.

A trained tokenizer.json of the shape train_tokenizer.py writes (byte-level BPE, GPT-2's regex, no normalizer)
converts to a tiktoken Encoding (its vocabulary as ranks), 2-3x faster than tokenizers. The two algorithms
differ (tiktoken merges any adjacent pair whose join is a token, tokenizers only the pairs of its merge list),
so the conversion is used only where it was checked: see TrainedTokenizer and nanogpt/prepare.py.

GPT-2 BPE comes from tiktoken, which downloads its files on first use; with NANOGPT_LOCAL_DATA set (see
localdata.py) the ranks file is read from $NANOGPT_LOCAL_DATA/gpt2_bpe/gpt2.tiktoken instead. That file,
tiktoken's pattern and the <|endoftext|> special token make exactly tiktoken's "gpt2" encoding.
"""

import hashlib
import json
import os
import sys
from functools import cached_property, lru_cache

from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.localdata import LOCAL_DATA_ENV, local_copy

GPT2_BPE_FILE = 'gpt2_bpe/gpt2.tiktoken'
GPT2_BPE_SHA256 = '306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930'
GPT2_EOT = 50256
GPT2_VOCAB = 50257
GPT2_PADDED_VOCAB = 50304  # GPT-2's 50257 rounded up to a multiple of 64, the size of a model trained here
EOT_TOKEN = '<|endoftext|>'  # the document separator


def padded_vocab_size(n):
    """n token ids rounded up to a multiple of 64, as GPT-2's 50257 to 50304: faster matmuls."""
    return -(-n // 64) * 64

# the chat template's special tokens (nanogpt/chat.py). A trained tokenizer reserves them; GPT-2 BPE puts them in
# the unused ids of the padded vocabulary (50257..50303), so a model trained here holds them without resizing.
CHAT_TOKENS = ('<|system|>', '<|user|>', '<|assistant|>', '<|end|>')
GPT2_SPECIAL_IDS = {EOT_TOKEN: GPT2_EOT, **{t: GPT2_VOCAB + i for i, t in enumerate(CHAT_TOKENS)}}
# a trained tokenizer's special tokens, ids 0..15 in this order: the separator, the chat tokens, spares for later
RESERVED_TOKENS = (EOT_TOKEN, *CHAT_TOKENS) + tuple(f'<|reserved_{i}|>' for i in range(11))
TRAINED_FILE = 'tokenizer.json'  # a dataset folder's own copy of the trained tokenizer it was prepared with
REPORT_FILE = 'tokenizer_report.json'  # train_tokenizer.py's sidecar: its measures and the tiktoken check


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


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _byte_of_char():
    """Byte-level BPE's alphabet: each of the 256 bytes is written as one printable character (the printable
    Latin-1 ones as themselves, the others as chr(256 + n) in byte order); this maps the characters back."""
    printable = [*range(ord('!'), ord('~') + 1), *range(ord('\u00a1'), ord('\u00ac') + 1), *range(ord('\u00ae'), 256)]
    chars = {b: chr(b) for b in printable}
    for n, b in enumerate(b for b in range(256) if b not in chars):
        chars[b] = chr(256 + n)
    return {c: b for b, c in chars.items()}


def tiktoken_of(spec, name='trained'):
    """(tiktoken Encoding, None) for a tokenizer.json's content (the parsed dict) of train_tokenizer.py's shape,
    else (None, why not). The shape: a BPE model with no dropout, affixes, byte fallback or ignore_merges, no
    normalizer, the ByteLevel pre-tokenizer with GPT-2's regex and no prefix space, added tokens all special
    (with their vocabulary entry's id, if any), ids 0..n-1 each used once. Then the ranks are the vocabulary (each piece's bytes: its id),
    special tokens left out, and the pattern is GPT-2's, the regex ByteLevel(use_regex=True) splits with. This
    shape is necessary, not sufficient, for equal ids: only an encode of real text with both shows that."""
    model, pre = spec.get('model') or {}, spec.get('pre_tokenizer') or {}
    checks = [
        (model.get('type') == 'BPE', "the model is not BPE"),
        (not model.get('ignore_merges'), "ignore_merges is set"),
        (model.get('dropout') is None and not model.get('byte_fallback') and not model.get('continuing_subword_prefix')
         and not model.get('end_of_word_suffix'), "the BPE model has dropout, byte fallback or affixes"),
        (spec.get('normalizer') is None, "it has a normalizer"),
        (pre.get('type') == 'ByteLevel' and pre.get('use_regex', True) and not pre.get('add_prefix_space'),
         "the pre-tokenizer is not ByteLevel with GPT-2's regex and no prefix space"),
        (all(t.get('special') for t in spec.get('added_tokens') or []), "it has added tokens that are not special"),
    ]
    for ok, why in checks:
        if not ok:
            return None, why
    byte_of = _byte_of_char()
    vocab = model.get('vocab') or {}
    special = {t['content']: t['id'] for t in spec.get('added_tokens') or []}
    if any(vocab.get(t, i) != i for t, i in special.items()):
        return None, "a special token's id differs from its vocabulary entry"
    if sorted({**vocab, **special}.values()) != list(range(len({**vocab, **special}))):
        return None, "its ids are not 0..n-1, each used once"
    pieces = {piece: i for piece, i in vocab.items() if piece not in special}
    if '' in pieces or not set(''.join(pieces)) <= set(byte_of):
        return None, "the vocabulary has entries that are not byte-level"
    table = {ord(c): b for c, b in byte_of.items()}  # each character to its byte's code point: latin-1 gives the bytes
    ranks = {piece.translate(table).encode('latin-1'): i for piece, i in pieces.items()}
    if len(ranks) != len(pieces) or not all(bytes([b]) in ranks for b in range(256)):
        return None, "the vocabulary lacks some of the 256 bytes or holds one byte string twice"
    import tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str
    return tiktoken.Encoding(name=name, pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens=special), None


def recorded_check(path, sha256):
    """The tiktoken check train_tokenizer.py recorded for this very file (REPORT_FILE beside it, same sha256),
    or None: {'equal': bool, 'documents', 'characters', ...}."""
    report = os.path.join(os.path.dirname(os.path.abspath(path)), REPORT_FILE)
    try:
        with open(report, encoding='utf-8') as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None
    check = r.get('tiktoken_check') if isinstance(r, dict) and r.get('sha256') == sha256 else None
    return check if isinstance(check, dict) and isinstance(check.get('equal'), bool) else None


class TrainedTokenizer:
    """A byte-level BPE tokenizer.json (data/train_tokenizer.py). Special tokens are its added tokens marked
    special; <|endoftext|> is the separator. encode() turns the text of a special token into its id (a prompt),
    encode_ordinary() never does: there such text is split into ordinary byte-level tokens. sha256 is the file's,
    which datasets and checkpoints record. decode() gives U+FFFD for an incomplete UTF-8 sequence.

    Hugging Face tokenizers is the reference. tiktoken holds the converted file (tiktoken_of) or None, with why
    not; check is what REPORT_FILE beside the file records about it. encode_ordinary goes through tiktoken
    only when that record says the ids were equal on the held-out documents (fast); encode_ordinary_reference
    is always tokenizers'. The file itself is never changed: its sha256 is the tokenizer's identity."""

    def __init__(self, path, sha256=None):
        from tokenizers import Tokenizer
        if not os.path.exists(path):
            fail(f"no tokenizer file {path}; train one with python data/train_tokenizer.py or give its path")
        with open(path, 'rb') as f:
            raw = f.read()  # read once: the sha256, tokenizers and the conversion all see these bytes
        self.path, self.sha256 = path, hashlib.sha256(raw).hexdigest()
        if sha256 is not None and sha256 != self.sha256:
            fail(f"{path} is not the tokenizer expected (sha256 {self.sha256[:12]}..., not {sha256[:12]}...); "
                 f"put the tokenizer.json the data was prepared with back, or prepare the data again with this one")
        try:
            self._text = raw.decode('utf-8')
            self.ordinary = Tokenizer.from_str(self._text)
        except Exception as e:  # tokenizers raises a bare Exception for a file that is not a tokenizer.json
            fail(f"{path} is not a tokenizer.json that Hugging Face tokenizers loads ({str(e)[:200]}); "
                 f"train one with python data/train_tokenizer.py")
        self.ordinary.encode_special_tokens = True  # the text of a special token is encoded as plain text
        self.vocab_size = self.ordinary.get_vocab_size(with_added_tokens=True)
        self.special = {t.content: i for i, t in self.ordinary.get_added_tokens_decoder().items() if t.special}
        self.eot = self.special.get(EOT_TOKEN)
        spec = json.loads(self._text)
        self._check_lossless(path, spec)
        self.tiktoken, self.tiktoken_why = tiktoken_of(spec, f'trained-{self.sha256[:12]}')
        self.check = recorded_check(path, self.sha256) if self.tiktoken is not None else None
        self.fast = self.tiktoken is not None and bool(self.check and self.check['equal'])

    @cached_property
    def tk(self):
        """The tokenizer that turns special tokens' text into their ids (encode, decode); built on first use."""
        from tokenizers import Tokenizer
        return Tokenizer.from_str(self._text)

    @cached_property
    def _bytes(self):
        byte_of = _byte_of_char()
        out = [b''] * self.vocab_size
        for piece, i in self.ordinary.get_vocab(with_added_tokens=False).items():
            if piece not in self.special:
                out[i] = bytes(byte_of[c] for c in piece)
        return out

    def _check_lossless(self, path, spec):
        """Refuse (one line) a tokenizer.json whose ids would not decode back to exactly the text: not byte-level
        BPE (a WordLevel model, say), a normalizer (Lowercase), ids with gaps or two tokens on one id."""
        byte_of = _byte_of_char()
        types = lambda node: ({node.get('type')} | {t for v in node.values() for t in types(v)} if isinstance(node, dict)
                              else {t for v in node for t in types(v)} if isinstance(node, list) else set())
        fix = "train one with python data/train_tokenizer.py"
        why = (f"its model is {spec['model'].get('type')}" if spec['model'].get('type') != 'BPE'
               else "its pre-tokenizer is not ByteLevel" if 'ByteLevel' not in types(spec.get('pre_tokenizer'))
               else "its decoder is not ByteLevel" if 'ByteLevel' not in types(spec.get('decoder')) else None)
        pieces = [p for p in self.ordinary.get_vocab(with_added_tokens=False) if p not in self.special]
        if why is None and not set(''.join(pieces)) <= set(byte_of):
            odd = next(p for p in pieces if any(c not in byte_of for c in p))
            why = f"its token {odd[:20]!r} is not written in the byte-level alphabet"
        if why:
            fail(f"{path} is not a byte-level BPE tokenizer ({why}), so its ids do not decode to exactly the text "
                 f"byte by byte; {fix}")
        if spec.get('normalizer') is not None:
            fail(f"{path} has a normalizer ({', '.join(sorted(types(spec['normalizer']) - {'Sequence'}))}), which "
                 f"changes the text before encoding (lowercases it, say): decoding would not give the text back. "
                 f"Set its \"normalizer\" to null, or {fix}")
        ids = sorted(self.ordinary.get_vocab(with_added_tokens=True).values())
        if ids != list(range(self.vocab_size)):
            shared = next((a for a, b in zip(ids, ids[1:]) if a == b), None)
            gap = next((i for i, a in enumerate(ids) if i != a), len(ids))
            what = f"two tokens share id {shared}" if shared is not None else f"no token has id {gap}"
            fail(f"{path} does not give its tokens the ids 0..{self.vocab_size - 1} once each ({what}), so an id "
                 f"would not decode to one token; {fix}")

    def encode(self, s):
        return self.tk.encode(s, add_special_tokens=False).ids

    def encode_ordinary(self, s):
        if self.fast:
            return self.tiktoken.encode_ordinary(s)
        return self.ordinary.encode(s, add_special_tokens=False).ids

    def encode_ordinary_reference(self, s):
        return self.ordinary.encode(s, add_special_tokens=False).ids

    def encode_ordinary_batch(self, texts, reference=False):
        if self.fast and not reference:
            return self.tiktoken.encode_ordinary_batch(texts)
        return [e.ids for e in self.ordinary.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids):
        return self.tk.decode([i for i in ids if i < self.vocab_size], skip_special_tokens=False)

    def token_bytes(self, i):
        """The bytes of token i; special tokens count none."""
        return self._bytes[i]


def tokenizer_for(meta):
    """The tokenizer of a dataset without a trained one: characters when its meta has stoi, else GPT-2 BPE."""
    if meta is not None and 'stoi' in meta:
        return CharTokenizer(meta)
    return GPT2Tokenizer()


def dataset_tokenizer(data_dir, sha256=None, source=None):
    """The tokenizer data_dir was prepared with: its summary.json's trained tokenizer (data_dir/tokenizer.json,
    checked against the sha256 recorded there), else tokenizer_for(its meta.pkl). sha256 (from a checkpoint,
    named by source) must equal the dataset's trained tokenizer: a model's ids mean nothing in another one."""
    from nanogpt.dataset import load_meta, load_summary
    summary = load_summary(data_dir) or {}
    if summary.get('tokenizer') == 'trained':
        path = os.path.join(data_dir, TRAINED_FILE)
        if not os.path.exists(path):
            fail(f"{path} is missing: {data_dir} was prepared with a trained tokenizer (sha256 "
                 f"{summary['tokenizer_sha256'][:12]}..., from {summary.get('tokenizer_source')}); copy that "
                 f"tokenizer.json back there, or prepare the dataset again with --tokenizer=PATH")
        tok = TrainedTokenizer(path, summary['tokenizer_sha256'])
        if sha256 is not None and sha256 != tok.sha256:
            fail(f"{source} was trained with another tokenizer (sha256 {sha256[:12]}...) than {path} "
                 f"({tok.sha256[:12]}...); pass the dataset the model was trained on with --dataset")
        return tok
    if sha256 is not None:
        has = f"{summary['tokenizer']} tokens" if summary else "no summary.json (not a prepared dataset here)"
        fail(f"{source} was trained with a trained tokenizer (sha256 {sha256[:12]}...) but {data_dir} has "
             f"{has}; pass the dataset the model was trained on with --dataset")
    return tokenizer_for(load_meta(data_dir))


if __name__ == '__main__':
    exit_on_bad_input()
    # quick check: python -m nanogpt.tokenizer "some text"
    print(gpt2_encoding().encode_ordinary(' '.join(sys.argv[1:]) or 'Hello world'))
