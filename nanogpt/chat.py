"""
Chat: the template that turns a conversation into token ids and a loss mask, the conversation files it is read
from, the batches train.py draws from a chat dataset, and the generation of one answer (chat.py, eval.py).

The template (docs/chat.md). Each turn is its role's start token, the text's ordinary tokens and <|end|>:

    [<|system|> text <|end|>]  <|user|> text <|end|>  <|assistant|> text <|end|>  <|user|> ...

Only the assistant's text and its <|end|> are trained (mask 1); the model learns when to answer and when to
stop, never to imitate the user. The text is encoded with encode_ordinary, so a message that holds the string
'<|end|>' stays ordinary text and cannot end a turn. The special ids are the tokenizer's `special`: GPT-2 BPE
keeps them in the padded vocabulary's unused ids (50257..50260), a trained tokenizer reserves them.

A chat dataset (data/prepare_chat.py) is a dataset folder whose summary.json says kind 'chat':
    train.bin, val.bin             the conversations' token ids, one after another
    train.mask.bin, val.mask.bin   uint8, one per token: 1 where that token is a trained target
    train.idx.bin, val.idx.bin     uint64, the start of each conversation and, last, the number of tokens
"""

import gzip
import itertools
import os

import numpy as np
import torch

from nanogpt.corpus import bounded_lines, loads_line, too_large
from nanogpt.errors import fail
from nanogpt.tokenizer import CHAT_TOKENS

SYSTEM, USER, ASSISTANT, END = CHAT_TOKENS
ROLE_TOKEN = {'system': SYSTEM, 'user': USER, 'assistant': ASSISTANT}
# the two layouts of conversation files: the list's key, each turn's role and text keys, role names -> ours
LAYOUTS = {
    'messages': ('role', 'content', {'system': 'system', 'user': 'user', 'assistant': 'assistant'}),
    'conversations': ('from', 'value', {'system': 'system', 'human': 'user', 'gpt': 'assistant',
                                        'user': 'user', 'assistant': 'assistant'}),
}
KIND = 'chat'
MAX_CONVERSATION_BYTES = 8 * 2 ** 20  # the largest conversation (one JSON line) prepare_chat.py reads


# -----------------------------------------------------------------------------
# conversations: checking and rendering

def parse_conversation(record):
    """[(role, text), ...] of one record in either layout, or ValueError saying what is wrong with it.
    A system turn may come first; then user and assistant alternate, from a user turn; a last user turn
    (a question without its answer) is dropped, since nothing in it is trained."""
    if not isinstance(record, dict):
        raise ValueError("it is not a JSON object")
    layout = next((k for k in LAYOUTS if k in record), None)
    if layout is None:
        raise ValueError(f"it has neither a 'messages' nor a 'conversations' list (keys: {', '.join(record)})")
    role_key, text_key, names = LAYOUTS[layout]
    raw = record[layout]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"its '{layout}' is not a non-empty list")
    turns = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or role_key not in t or text_key not in t:
            raise ValueError(f"turn {i + 1} lacks '{role_key}' or '{text_key}'")
        role = names.get(t[role_key]) if isinstance(t[role_key], str) else None
        if role is None:
            raise ValueError(f"turn {i + 1} has unknown role {t[role_key]!r} (known: {', '.join(names)})")
        text = t[text_key]
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"turn {i + 1} ({t[role_key]}) has empty content")
        expected = 'user' if not turns or turns[-1][0] in ('system', 'assistant') else 'assistant'
        if role != expected and not (role == 'system' and i == 0):
            raise ValueError(f"its roles are out of order: turn {i + 1} is {t[role_key]}, expected "
                             f"{[k for k, v in names.items() if v == expected][0]}")
        turns.append((role, text))
    if turns[-1][0] == 'user':
        turns.pop()
    if not any(r == 'assistant' for r, _ in turns):
        raise ValueError("it has no assistant turn")
    return turns


def render(tok, turns, limit=None):
    """(ids, mask, cuts) of a conversation: mask[i] = 1 when ids[i] is trained, cuts = the lengths at which
    an assistant turn ends (where a conversation may be cut). With limit, the turns after the first that
    ends past limit ids are not rendered (no cut there could be used), so memory follows limit."""
    ids, mask, cuts = [], [], []
    for role, text in turns:
        if limit is not None and len(ids) > limit:
            break
        body = tok.encode_ordinary(text)
        trained = int(role == 'assistant')
        ids.append(tok.special[ROLE_TOKEN[role]])  # appended in place: no copy of a long turn's ids
        ids += body
        ids.append(tok.special[END])
        mask.append(0)
        mask += itertools.repeat(trained, len(body) + 1)
        if trained:
            cuts.append(len(ids))
    return ids, mask, cuts


def prompt_ids(tok, turns):
    """The ids the model continues to answer: the conversation so far (it ends with a user turn), then <|assistant|>."""
    return render(tok, turns)[0] + [tok.special[ASSISTANT]]


def check_chat_tokenizer(tok, what):
    missing = [t for t in CHAT_TOKENS if t not in tok.special]
    if missing:
        fail(f"{what} has no chat tokens ({', '.join(missing)} missing): chat needs GPT-2 BPE or a tokenizer "
             f"trained here (data/train_tokenizer.py reserves them), not a character-level vocabulary")


# -----------------------------------------------------------------------------
# conversation files: .jsonl, .jsonl.gz, .parquet

def _chars(value):
    """The characters of the strings in a parquet row (at most its bytes as UTF-8)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(map(_chars, value.values()))
    return sum(map(_chars, value)) if isinstance(value, list) else 0


def read_records(path, max_bytes=MAX_CONVERSATION_BYTES):
    """Yield (line or row number, record, None) of a conversation file, or (number, None, what is wrong)
    for a line that is not JSON. A line (a parquet row) over max_bytes is refused while it is read, never
    held whole: memory stays bounded for any file (one without newlines, a gzip bomb)."""
    knob = '--max_conversation_bytes'
    if path.endswith('.parquet'):
        import pyarrow.parquet as pq
        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            for rec in batch.to_pylist():
                n += 1
                if _chars(rec) > max_bytes:  # read already (one of 64 rows), but never rendered or tokenized
                    too_large(f"{path} row {n}", max_bytes, knob, 'conversation')
                yield n, rec, None
        return
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        for n, line in bounded_lines(f, path, max_bytes, knob, 'conversation'):
            if not line.strip():
                continue
            line = line.decode('utf-8')  # not UTF-8: the file cannot be read (prepare_chat.py says so)
            try:
                yield n, loads_line(line), None
            except ValueError as e:  # not JSON, too deep, a lone surrogate: the line is malformed
                yield n, None, str(e)


# -----------------------------------------------------------------------------
# a prepared chat dataset and train.py's batches

class ChatData:
    """The conversations of a chat dataset's splits. A batch is batch_size conversations drawn by a random
    generator, each its first block_size + 1 tokens (inputs x, next-token targets y), padded at the end; a
    target the loss must not count (a user or system token, padding) is -1, cross-entropy's ignore_index.
    Padding inputs are id 0: they come after every real token, so causal attention never shows them to one."""

    def __init__(self, data_dir, dtype, block_size):
        self.data_dir, self.dtype, self.block_size = data_dir, dtype, block_size
        self.starts = {}
        for split in ('train', 'val'):
            idx = np.fromfile(os.path.join(data_dir, f'{split}.idx.bin'), dtype=np.uint64).astype(np.int64)
            n_tokens = os.path.getsize(os.path.join(data_dir, f'{split}.bin')) // dtype.itemsize
            mask = np.fromfile(os.path.join(data_dir, f'{split}.mask.bin'), dtype=np.uint8)
            if len(idx) < 2 or idx[-1] != n_tokens or len(mask) != n_tokens:
                fail(f"{data_dir}/{split}.idx.bin or {split}.mask.bin do not match {split}.bin; "
                     f"prepare the dataset again with python data/prepare_chat.py")
            # a conversation must have a trained target within its first block_size + 1 tokens
            first = np.full(len(idx) - 1, np.iinfo(np.int64).max)
            hit = np.flatnonzero(mask)
            conv = np.searchsorted(idx, hit, side='right') - 1
            np.minimum.at(first, conv, hit - idx[conv])
            if (first > block_size).any():
                fail(f"{data_dir}/{split} has {(first > block_size).sum()} conversations whose first answer ends "
                     f"past block_size={block_size}; prepare it again with python data/prepare_chat.py "
                     f"--block_size={block_size}, or train with a larger --block_size")
            self.starts[split] = idx

    @staticmethod
    def of(data_dir, summary, dtype, block_size):
        """ChatData for a chat dataset, None for a plain one."""
        if (summary or {}).get('kind') == KIND:
            return ChatData(data_dir, dtype, block_size)
        if os.path.exists(os.path.join(data_dir, 'train.mask.bin')):
            fail(f"{data_dir} holds train.mask.bin but its summary.json does not say it is a chat dataset "
                 f"(an interrupted prepare?); prepare it again with python data/prepare_chat.py")
        return None

    def conversations(self, split):
        return len(self.starts[split]) - 1

    def rows(self, split, which):
        """x, y (len(which), T) int64 tensors of the conversations numbered which; T is block_size or, when
        the longest of them is shorter, its length: no forward pass over columns of padding only."""
        data = np.memmap(os.path.join(self.data_dir, f'{split}.bin'), dtype=self.dtype, mode='r')
        mask = np.memmap(os.path.join(self.data_dir, f'{split}.mask.bin'), dtype=np.uint8, mode='r')
        starts = self.starts[split]
        T = min(self.block_size, max(int(starts[c + 1] - starts[c]) for c in which) - 1)
        x = np.zeros((len(which), T), dtype=np.int64)
        y = np.full((len(which), T), -1, dtype=np.int64)
        for r, c in enumerate(which):
            a, b = starts[c], min(starts[c + 1], starts[c] + T + 1)
            ids = data[a:b].astype(np.int64)
            x[r, :len(ids) - 1] = ids[:-1]
            y[r, :len(ids) - 1] = np.where(mask[a + 1:b] == 1, ids[1:], -1)
        return torch.from_numpy(x), torch.from_numpy(y)

    def batch(self, split, rng, batch_size):
        return self.rows(split, rng.integers(self.conversations(split), size=batch_size).tolist())


# -----------------------------------------------------------------------------
# answering: one assistant turn, with a KV cache that may hold the conversation's first positions

class Answerer:
    """Generates assistant turns of one conversation. The KV cache holds the first cache.pos ids of the
    conversation, so each turn only feeds the ids that are new since the last one. Only ordinary tokens
    and <|end|> can be drawn: no other special token, no id past the tokenizer's (a padded model)."""

    def __init__(self, model, tok, temperature=0.0, top_k=None, top_p=None):
        from model import KVCache
        self.model, self.tok = model, tok
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.end = tok.special[END]
        V = model.config.vocab_size
        banned = torch.ones(V, dtype=torch.bool)
        banned[:min(tok.vocab_size, V)] = False
        banned[[i for i in tok.special.values() if i < V]] = True
        banned[self.end] = False
        self.banned = banned.to(next(model.parameters()).device)
        self.cache = KVCache(model.config)
        self.fed = []  # the ids the cache holds

    def forget(self):
        self.cache.reset()
        self.fed = []

    def _feed(self, ids):
        """Logits after ids, feeding only what the cache does not hold yet."""
        n = 0
        while n < min(len(ids), len(self.fed)) and ids[n] == self.fed[n]:
            n += 1
        if n < len(self.fed) or n == len(ids):  # ids diverge from the cached ones (or add nothing): start over
            self.forget()
            n = 0
        device = self.banned.device
        if n == 0:  # a prefill from position 0 in one forward
            logits, _ = self.model(torch.tensor([ids], device=device), cache=self.cache)
        else:  # a cache that holds positions takes one new position per forward
            for i in ids[n:]:
                logits, _ = self.model(torch.tensor([[i]], device=device), cache=self.cache)
        self.fed = list(ids)
        return logits[:, -1, :]

    @torch.no_grad()
    def answer(self, ids, max_new_tokens=None):
        """Yield the answer's ids to ids (which end with <|assistant|>), <|end|> excluded. Stops at <|end|>,
        after max_new_tokens, or when the context is full (then self.cut is True)."""
        from model import sample_logits
        block = self.model.config.block_size
        if len(ids) >= block:
            raise ValueError(f"the conversation has {len(ids)} tokens, the context only {block}")
        self.cut = False
        ids = list(ids)
        logits = self._feed(ids)
        for _ in range(block if max_new_tokens is None else max_new_tokens):
            logits = logits.masked_fill(self.banned, -float('inf'))
            t = sample_logits(logits, self.temperature, self.top_k, self.top_p).item()
            if t == self.end:
                return
            yield t
            ids.append(t)
            if len(ids) >= block:
                self.cut = True
                return
            logits = self._feed(ids)


def greedy_answers(model, tok, data, split, limit=None):
    """(exact, total): how many assistant turns of split's conversations (the first `limit`) the model
    answers exactly, greedily, given the conversation before them. Exact: the answer's text, stripped,
    equals one of the split's answers to the same preceding conversation (a question may have several)."""
    d = np.memmap(os.path.join(data.data_dir, f'{split}.bin'), dtype=data.dtype, mode='r')
    m = np.memmap(os.path.join(data.data_dir, f'{split}.mask.bin'), dtype=np.uint8, mode='r')
    starts = data.starts[split]
    block = model.config.block_size
    refs = {}  # prompt ids -> accepted answers
    longest = 0  # tokens of the longest answer
    for c in range(data.conversations(split)):
        ids, mask = d[starts[c]:starts[c + 1]].tolist(), m[starts[c]:starts[c + 1]]
        i = 0
        while i < len(ids):
            if mask[i] and (i == 0 or not mask[i - 1]):  # an answer starts: ids[:i] is its prompt
                j = i
                while j < len(ids) and mask[j]:
                    j += 1
                refs.setdefault(tuple(ids[:i]), set()).add(tok.decode(ids[i:j - 1]).strip())
                longest = max(longest, j - 1 - i)
                i = j
            i += 1
    prompts = [p for p in refs if len(p) < block][:limit]  # dicts keep their order: the file's
    answerer = Answerer(model, tok, temperature=0.0)
    # an answer much longer than every reference cannot be exact: stop generating it there
    exact = sum(tok.decode(list(answerer.answer(p, 2 * longest + 8))).strip() in refs[p] for p in prompts)
    return exact, len(prompts)


@torch.no_grad()
def assistant_loss(model, data, split, batch_size=16, ctx=None):
    """The mean cross-entropy over every assistant target of split (each conversation's first block_size
    + 1 tokens), in nats, and the number of targets."""
    from contextlib import nullcontext
    device = next(model.parameters()).device
    nll, n = 0.0, 0
    for a in range(0, data.conversations(split), batch_size):
        x, y = data.rows(split, range(a, min(a + batch_size, data.conversations(split))))
        x, y = x.to(device), y.to(device)
        with ctx or nullcontext():
            logits, _ = model(x, y)
        keep = y != -1
        nll += torch.nn.functional.cross_entropy(logits[keep].float(), y[keep], reduction='sum').item()
        n += int(keep.sum())
    return nll / max(n, 1), n
