"""A small trained tokenizer for the tests (data/train_tokenizer.py on a slice of the reviews and of shakespeare)."""
import json
import os

import pytest

from conftest import SHARED, run

REVIEWS = [json.loads(line)['text'] for line in open(os.path.join(SHARED, 'zh_reviews', 'reviews.jsonl'), encoding='utf-8')]
SHAKESPEARE = open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt'), encoding='utf-8').read()


@pytest.fixture(scope='session')
def trained_tokenizer(tmp_path_factory):
    """(path of tokenizer.json, the script's stdout): vocabulary 600, from 1,500 reviews and 60k characters of
    shakespeare; small enough that most Chinese characters take 2-3 byte tokens (the hard case for decoding)."""
    d = tmp_path_factory.mktemp('tok')
    (d / 'reviews.jsonl').write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in REVIEWS[:1500]),
                                     encoding='utf-8')
    (d / 'shakespeare.txt').write_text(SHAKESPEARE[:60000], encoding='utf-8')
    r = run(['data/train_tokenizer.py', d / 'reviews.jsonl', d / 'shakespeare.txt', '--vocab_size=600',
             '--heldout=0.05', f'--out_dir={d / "tok"}'])
    return str(d / 'tok' / 'tokenizer.json'), r.stdout
