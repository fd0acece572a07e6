"""A trained tokenizer.json through tiktoken (nanogpt.tokenizer.tiktoken_of): the converted encoder gives Hugging Face
tokenizers' ids on every kind of text; train_tokenizer.py records that check; prepare_local.py checks a sample of
each shard and, on a tokenizer.json where the two really differ, falls back to tokenizers with a one-line warning."""
import copy
import gzip
import json
import os

import numpy as np
import pytest

from harness import SHARED, run
from nanogpt.corpus import local_documents
from nanogpt.prepare import is_val
from nanogpt.tokenizer import RESERVED_TOKENS, TrainedTokenizer, _byte_of_char, tiktoken_of
from tokenizer_helpers import REVIEWS, SHAKESPEARE, trained_tokenizer  # noqa: F401 (a fixture)

POEMS = ['\n'.join([p['title']] + p['paragraphs'])
         for p in json.load(open(os.path.join(SHARED, 'tang_poems', 'poet.tang.0.json'), encoding='utf-8'))[:400]]
TEXTS = ["你好，世界！这本书很好看。", "全唐诗：床前明月光，疑是地上霜。", "𠀀𠀁 (astral CJK) ㄅㄆ ﾊﾝｶｸ 한국어 日本語のテキスト",
         "English: it's, they're, we'll, I'd've -- 'quoted' 12345 3.14159", "emoji 🤖👍🏽 👨‍👩‍👧 🇨🇳 and café naïve",
         "mixed: Привет мир, مرحبا, שלום, नमस्ते, ελληνικά, 中文English混合123数字",
         "  leading\n\n\n\ttabs   and   runs   \r\n",
         " " * 37 + "\t" * 9 + "\n" * 5, "\u00a0\u2003\u3000 odd spaces\u200b",
         "x<|endoftext|>y<|user|>z<|reserved_3|><|assistant|> <|end|>", "<|endoftext|>", "a" * 3000, "🤖" * 300,
         "", " ", "\n"]


def corpus_format_docs(folder):
    """Documents as the local route reads them from .jsonl.gz, .parquet, .tar.gz and MNBVC-style .jsonl files."""
    import io
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq
    folder.mkdir()
    line = lambda r: json.dumps(r, ensure_ascii=False) + '\n'  # noqa: E731
    (folder / 'a.jsonl.gz').write_bytes(gzip.compress(''.join(line({'text': t}) for t in REVIEWS[9000:9300]).encode()))
    pq.write_table(pa.Table.from_pylist([{'text': SHAKESPEARE[i:i + 700]} for i in range(0, 70000, 700)]),
                   folder / 'b.parquet', row_group_size=16)
    with tarfile.open(folder / 'c.tar.gz', 'w:gz') as tar:
        for i, t in enumerate(POEMS[:50] + TEXTS):
            data = t.encode('utf-8')
            info = tarfile.TarInfo(f'x/{i}.txt')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    files = [str(folder / n) for n in ('a.jsonl.gz', 'b.parquet', 'c.tar.gz')]
    docs = [t for t, _ in local_documents(files)]
    (folder / 'd.jsonl').write_text(''.join(line({'段落': [{'内容': ln} for ln in p.split('\n')]}) for p in POEMS),
                                    encoding='utf-8')
    return docs + [t for t, _ in local_documents([str(folder / 'd.jsonl')], '段落.内容')]


@pytest.fixture(scope='module')
def tokenizer_4k(tmp_path_factory):
    """A 4,000-id tokenizer (long Chinese merges, the case where the two algorithms could part) from
    train_tokenizer.py, and what it printed."""
    d = tmp_path_factory.mktemp('tok4k')
    (d / 'c.jsonl').write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n'
                                       for t in REVIEWS[:8000] + POEMS + [SHAKESPEARE[:100000]]), encoding='utf-8')
    r = run(['data/train_tokenizer.py', d / 'c.jsonl', '--vocab_size=4000', '--heldout=0.05', f'--out_dir={d / "tok"}'])
    return str(d / 'tok' / 'tokenizer.json'), r.stdout


def test_converted_encoder_equals_tokenizers(tmp_path, trained_tokenizer, tokenizer_4k):  # noqa: F811
    docs = corpus_format_docs(tmp_path / 'corpus') + TEXTS + REVIEWS[20000:23000]
    assert len(docs) > 3800
    for path, out in (trained_tokenizer, tokenizer_4k):
        tok = TrainedTokenizer(path)
        assert tok.tiktoken is not None and tok.tiktoken_why is None
        assert tok.tiktoken.encode_ordinary_batch(docs) == tok.encode_ordinary_batch(docs, reference=True)
        assert all(tok.decode(tok.tiktoken.encode_ordinary(t)) == t for t in TEXTS)
        # train_tokenizer.py checked the held-out documents and recorded it beside the file: encode_ordinary is fast
        report = json.load(open(os.path.join(os.path.dirname(path), 'tokenizer_report.json')))
        check = report['tiktoken_check']
        assert check['equal'] is True and check['documents'] == report['heldout']['documents'] > 0
        assert 'the same ids as tokenizers on all' in out
        assert tok.fast and tok.encode_ordinary(TEXTS[9]) == tok.encode_ordinary_reference(TEXTS[9])
        assert not set(tok.encode_ordinary(TEXTS[9])) & set(tok.special.values())  # special-looking text stays text
    # the 4k vocabulary really has long merges: fewer tokens than characters on reviews
    tok = TrainedTokenizer(tokenizer_4k[0])
    assert sum(map(len, tok.encode_ordinary_batch(REVIEWS[20000:23000]))) < sum(map(len, REVIEWS[20000:23000]))


def crafted(path, edit=None):
    """A real tokenizer.json, byte-level BPE of train_tokenizer.py's shape, on which tiktoken and tokenizers differ:
    merges a+b, b+c, then a+bc. For 'abc' tokenizers merges a+b first and stops ([ab, c]: there is no rule ab+c),
    while tiktoken joins any adjacent pair whose join is a token ([abc])."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    byte_of = _byte_of_char()
    vocab = {t: i for i, t in enumerate(RESERVED_TOKENS)}
    vocab.update({c: 16 + i for i, c in enumerate(sorted(byte_of, key=byte_of.get))})
    vocab.update({'ab': 272, 'bc': 273, 'abc': 274})
    tk = Tokenizer(models.BPE(vocab, [('a', 'b'), ('b', 'c'), ('a', 'bc')]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(list(RESERVED_TOKENS))
    spec = json.loads(tk.to_str())
    if edit:
        edit(spec)
    path.write_text(json.dumps(spec))
    return str(path)


def test_disagreement_falls_back_with_a_warning(tmp_path):
    path = crafted(tmp_path / 'tokenizer.json')
    tok = TrainedTokenizer(path)
    assert tok.tiktoken is not None and not tok.fast  # converts, but nothing checked it: tokenizers
    assert tok.tiktoken.encode_ordinary('x abc') == [136, 48, 274]
    assert tok.encode_ordinary('x abc') == [136, 48, 272, 115]
    # 400 documents of 100 characters, shards of 100: document 200 (the first of the third shard) holds ' abc'
    base = [(REVIEWS[i] * 10)[:95] + f' {i:04d}' for i in range(400)]
    assert not any('abc' in d for d in base)
    docs = base[:200] + [base[200][:90] + ' abc ' + base[200][-5:]] + base[201:]
    assert all(len(d) == 100 for d in docs)
    (tmp_path / 'c.jsonl').write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in docs),
                                      encoding='utf-8')
    r = run(['data/prepare_local.py', tmp_path / 'c.jsonl', f'--tokenizer={path}', f'--out_dir={tmp_path / "ds"}',
             '--val_fraction=0.2', '--num_proc=2', '--shard_mb=0.01'])
    assert 'encoding through tiktoken' in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith('warning:')]
    assert len(warnings) == 1 and 'encodes document 200 (' in warnings[0] and 'uses tokenizers' in warnings[0]
    # the dataset holds tokenizers' ids, the document that differs included
    ref = {'train': [], 'val': []}
    for d in docs:
        ref['val' if is_val(d, 0, ('hash', 0.2)) else 'train'] += tok.encode_ordinary_reference(d) + [tok.eot]
    for s in ('train', 'val'):
        assert np.fromfile(tmp_path / 'ds' / f'{s}.bin', dtype=np.uint16).tolist() == ref[s]
    assert tok.tiktoken.encode_ordinary(docs[200]) != tok.encode_ordinary_reference(docs[200])  # it mattered

    # a check recorded beside the file that found different ids: prepare goes straight to tokenizers
    report = {'sha256': tok.sha256, 'tiktoken_check': {'equal': False}}
    (tmp_path / 'tokenizer_report.json').write_text(json.dumps(report))
    r = run(['data/prepare_local.py', tmp_path / 'c.jsonl', f'--tokenizer={path}', f'--out_dir={tmp_path / "ds2"}',
             '--val_fraction=0.2', '--num_proc=1'])
    assert 'encoding with Hugging Face tokenizers: the check in tokenizer_report.json' in r.stdout
    assert 'warning' not in r.stderr
    assert open(tmp_path / 'ds2' / 'train.bin', 'rb').read() == open(tmp_path / 'ds' / 'train.bin', 'rb').read()



def test_parts_of_a_shard_fall_back_together(tmp_path):
    """With --num_proc > 1 a shard is encoded in parts on several processes: when one part's check finds a
    difference, the whole shard is tokenizers', as with one process, also a document no check looked at."""
    path = crafted(tmp_path / 'tokenizer.json')
    tok = TrainedTokenizer(path)
    base = [(REVIEWS[i] * 10)[:95] + f' {i:04d}' for i in range(400)]
    with_abc = lambda d: d[:90] + ' abc ' + d[-5:]
    # one shard of 400 documents, parts of 100: 200 is checked (and differs), 150 is not (and differs too)
    docs = [with_abc(d) if i in (150, 200) else d for i, d in enumerate(base)]
    (tmp_path / 'c.jsonl').write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in docs),
                                      encoding='utf-8')
    out = {}
    for n in (1, 3):
        r = run(['data/prepare_local.py', tmp_path / 'c.jsonl', f'--tokenizer={path}', f'--out_dir={tmp_path / str(n)}',
                 '--val_fraction=0.2', f'--num_proc={n}', '--shard_mb=0.04'])
        warnings = [ln for ln in r.stderr.splitlines() if ln.startswith('warning:')]
        assert len(warnings) == 1 and 'encodes document 200 (' in warnings[0]
        out[n] = [open(tmp_path / str(n) / f'{s}.bin', 'rb').read() for s in ('train', 'val')]
    assert out[3] == out[1]
    ref = []
    for d in docs:
        if not is_val(d, 0, ('hash', 0.2)):
            ref += tok.encode_ordinary_reference(d) + [tok.eot]
    assert np.frombuffer(out[3][0], dtype=np.uint16).tolist() == ref
    assert tok.tiktoken.encode_ordinary(docs[150]) != tok.encode_ordinary_reference(docs[150])  # it mattered


def test_only_train_tokenizers_shape_converts(tmp_path):
    spec = json.loads(open(crafted(tmp_path / 't.json')).read())
    assert tiktoken_of(spec)[0] is not None

    def why(edit):
        s = copy.deepcopy(spec)
        edit(s)
        enc, reason = tiktoken_of(s)
        assert enc is None
        return reason
    assert why(lambda s: s.update(normalizer={'type': 'NFKC'})) == 'it has a normalizer'
    assert 'ignore_merges' in why(lambda s: s['model'].update(ignore_merges=True))
    assert 'prefix space' in why(lambda s: s['pre_tokenizer'].update(add_prefix_space=True))
    assert 'prefix space' in why(lambda s: s['pre_tokenizer'].update(use_regex=False))
    assert 'dropout' in why(lambda s: s['model'].update(dropout=0.1))
    assert 'not BPE' in why(lambda s: s['model'].update(type='WordPiece'))
    assert 'not special' in why(lambda s: s['added_tokens'][5].update(special=False))
    assert '0..n-1' in why(lambda s: s['model']['vocab'].update(abc=300))
    # a file that does not convert: TrainedTokenizer and prepare stay on tokenizers and say why
    path = crafted(tmp_path / 'n.json', lambda s: s['model'].update(ignore_merges=True))
    tok = TrainedTokenizer(path)
    assert tok.tiktoken is None and not tok.fast and tok.encode_ordinary('x abc') == [136, 48, 272, 115]
    (tmp_path / 'c.txt').write_text('x abc ' * 50)
    (tmp_path / 'd.txt').write_text('ab c ' * 50)
    r = run(['data/prepare_local.py', tmp_path / 'c.txt', tmp_path / 'd.txt', f'--tokenizer={path}',
             f'--out_dir={tmp_path / "ds"}', '--num_proc=1'])
    assert 'encoding with Hugging Face tokenizers: ignore_merges is set' in r.stdout
