"""Every corpus format the local route reads (nanogpt/corpus.py), prepared with a trained tokenizer: the dataset
is exactly the tokenizer's own encoding of each document followed by <|endoftext|>, split by the hash rule."""
import gzip
import hashlib
import io
import json
import os
import tarfile

import numpy as np

from harness import bad_input, SHARED, run
from nanogpt.corpus import local_documents
from nanogpt.prepare import prepare_documents
from nanogpt.tokenizer import TrainedTokenizer
from tokenizer_helpers import REVIEWS, SHAKESPEARE, trained_tokenizer  # noqa: F401 (a fixture)

POEMS = [p for f in ('poet.tang.0.json', 'poet.tang.1000.json')
         for p in json.load(open(os.path.join(SHARED, 'tang_poems', f), encoding='utf-8'))[:60]]


def jsonl(records):
    return ''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in records).encode('utf-8')


def zstd(data):
    import zstandard
    return zstandard.ZstdCompressor().compress(data)


def parquet(path, records, row_group_size):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)


def tar_gz(path, members):
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def expected(tok, docs, fraction):
    out = {'train': [], 'val': []}
    for d in docs:
        h = int.from_bytes(hashlib.blake2b(d.encode(), digest_size=8).digest(), 'little')
        out['val' if h < fraction * 2 ** 64 else 'train'] += tok.encode_ordinary_reference(d) + [tok.eot]
    return {k: np.array(v, dtype=np.uint16).tobytes() for k, v in out.items()}


def read(d, split):
    with open(os.path.join(d, f'{split}.bin'), 'rb') as f:
        return f.read()


def test_every_format_is_token_exact(tmp_path, trained_tokenizer):  # noqa: F811
    path = trained_tokenizer[0]
    tok = TrainedTokenizer(path)
    texts = iter(REVIEWS[5000:5400] + [SHAKESPEARE[i:i + 900] for i in range(0, 45000, 900)]
                 + ['\n'.join(p['paragraphs']) for p in POEMS]
                 + ['  whitespace   runs\n\n\n\t', 'emoji 🤖👍🏽 café', 'a <|endoftext|> in the text <|user|>'])
    take = lambda n: [next(texts) for _ in range(n)]  # noqa: E731
    folder = tmp_path / 'corpus'
    folder.mkdir()
    docs = []  # in the order the folder is read: sorted names
    (folder / 'a.txt').write_text(d := SHAKESPEARE[50000:53000] + '\n东京 🚀\n', encoding='utf-8')
    docs.append(d)
    for name, pack in (('b.jsonl', lambda b: b), ('c.jsonl.gz', gzip.compress), ('d.json.gz', gzip.compress),
                       ('e.jsonl.zst', zstd)):
        batch = take(60)
        (folder / name).write_bytes(pack(jsonl({'text': t, 'id': i} for i, t in enumerate(batch))))
        docs += batch
    batch = take(70)
    parquet(folder / 'f.parquet', [{'id': i, 'text': t} for i, t in enumerate(batch)], row_group_size=16)  # 5 groups
    docs += batch
    one, two = take(50), take(5)
    tar_gz(folder / 'g.tar.gz', [('x/one.jsonl.gz', gzip.compress(jsonl({'text': t} for t in one))),
                                 ('x/skipped.parquet', b'parquet is not read inside archives'),
                                 *[(f'x/t{i}.txt', t.encode()) for i, t in enumerate(two)]])
    docs += one + two
    assert list(t for t, _ in local_documents(sorted(str(p) for p in folder.iterdir()))) == docs

    out = tmp_path / 'ds'
    run(['data/prepare_local.py', folder, f'--tokenizer={path}', f'--out_dir={out}', '--val_fraction=0.2',
         '--num_proc=2', '--shard_mb=0.02'])
    want = expected(tok, docs, 0.2)
    assert want['train'] and want['val']
    assert read(out, 'train') == want['train'] and read(out, 'val') == want['val']
    assert json.load(open(out / 'summary.json'))['documents'] == len(docs)


def test_nested_fields_are_token_exact(tmp_path, trained_tokenizer, capsys):  # noqa: F811
    tok = TrainedTokenizer(trained_tokenizer[0])
    mnbvc = [{'文件名': f'{i}.txt', '是否待查文件': False,
              '段落': [{'行号': j, '内容': line} for j, line in enumerate(p['paragraphs'])]} for i, p in enumerate(POEMS)]
    qa = [{'问': REVIEWS[i], '答': REVIEWS[i + 1], '来源': 'test'} for i in range(100, 300, 2)]
    nested = [{'meta': {'lang': 'en', 'body': SHAKESPEARE[i:i + 500]}} for i in range(0, 30000, 500)]
    (tmp_path / 'mnbvc.jsonl.zst').write_bytes(zstd(jsonl(mnbvc)))
    parquet(tmp_path / 'qa.parquet', qa, row_group_size=30)
    (tmp_path / 'nested.json.gz').write_bytes(gzip.compress(jsonl(nested)))
    cases = [('mnbvc.jsonl.zst', '段落.内容', ['\n'.join(p['paragraphs']) for p in POEMS]),
             ('qa.parquet', '问,答', [r['问'] + '\n' + r['答'] for r in qa]),
             ('nested.json.gz', 'meta.body', [r['meta']['body'] for r in nested])]
    for name, key, docs in cases:
        files = [str(tmp_path / name)]
        out = str(tmp_path / f'ds-{name}')
        prepare_documents(out, lambda: local_documents(files, key), tokenizer=trained_tokenizer[0],
                          split=('hash', 0.2), num_proc=1, shard_chars=5000)
        want = expected(tok, docs, 0.2)
        assert read(out, 'train') == want['train'] and read(out, 'val') == want['val'], name
    # appending with another tokenizer.json (here: one more byte, so another sha256) is refused, nothing changed
    other = tmp_path / 'other.json'
    other.write_bytes(open(trained_tokenizer[0], 'rb').read() + b'\n')
    before = read(out, 'train')
    with bad_input() as e:
        prepare_documents(out, lambda: local_documents([str(tmp_path / 'qa.parquet')], '问'), tokenizer=str(other),
                          split=('hash', 0.2), num_proc=1, append=True)
    assert e.value.code == 2 and 'was prepared with another tokenizer.json' in capsys.readouterr().err
    assert read(out, 'train') == before


def test_records_without_the_field(tmp_path, capsys):
    records = [{'text': 'one'}, {'body': 'no text'}, {'text': 'three'}, {'text': 7}, {'text': 'five'}]
    (tmp_path / 'r.json.gz').write_bytes(gzip.compress(jsonl(records)))
    parquet(tmp_path / 'r.parquet', [{'text': r.get('text') if isinstance(r.get('text'), str) else None}
                                     for r in records], row_group_size=2)
    for name, where in (('r.json.gz', 'r.json.gz line 2'), ('r.parquet', 'r.parquet row 2')):
        files = [str(tmp_path / name)]
        with bad_input() as e:
            list(local_documents(files))
        assert e.value.code == 2 and where in capsys.readouterr().err
        skipped = []
        assert [t for t, _ in local_documents(files, 'text', skipped)] == ['one', 'three', 'five']
        assert len(skipped) == 2 and skipped[0].endswith(where)
    with bad_input():
        list(local_documents([str(tmp_path / 'r.parquet')], 'body'))
    assert "has no column 'body'" in capsys.readouterr().err
    # the script: one line naming file and line, or --skip_bad with a count
    d = f'--out_dir={tmp_path / "d"}'
    r = run(['data/prepare_local.py', tmp_path / 'r.json.gz', d], expect=None)
    assert r.returncode == 2 and 'r.json.gz line 2 has no string field' in r.stderr and '--skip_bad' in r.stderr
    many = [{'text': f'document {i}'} for i in range(40)] + [{'body': 'x'}, {'text': None}]
    (tmp_path / 'many.jsonl.zst').write_bytes(zstd(jsonl(many)))
    r = run(['data/prepare_local.py', tmp_path / 'many.jsonl.zst', d, '--skip_bad', '--val_fraction=0.3'])
    assert 'skipped 2 records' in r.stdout and 'many.jsonl.zst line 41' in r.stdout
    assert json.load(open(tmp_path / 'd' / 'summary.json'))['documents'] == 40
    (tmp_path / 'broken.jsonl.gz').write_bytes(b'not gzip at all\n')
    with bad_input():
        list(local_documents([str(tmp_path / 'broken.jsonl.gz')]))
    assert 'is not a readable .jsonl.gz file' in capsys.readouterr().err
