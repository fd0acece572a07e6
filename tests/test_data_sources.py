"""TinyStories (story text from plain and Instruct files, subsets, 9:1) and the Tang poems (characters)."""
import itertools

import numpy as np

from harness import run

EOT = 50256


def docs_of(path):
    from nanogpt.tokenizer import gpt2_encoding
    ids = np.fromfile(path, dtype=np.uint16).tolist()
    assert ids and ids[-1] == EOT
    out, cur = [], []
    for i in ids:
        if i == EOT:
            out.append(gpt2_encoding().decode(cur))
            cur = []
        else:
            cur.append(i)
    return out


def story(i):
    return f"Once upon a time, {i} little cats played.\nThey were happy: Lily said \"Story: {i}!\"\n\nThe end."


def test_plain_and_instruct_records(tmp_path):
    n_plain, n_instruct = 13, 14
    plain = tmp_path / 'TinyStories-valid.txt'
    plain.write_text('\n'.join(story(i) + '\n<|endoftext|>' for i in range(n_plain)) + '\n', encoding='utf-8')
    fields = {'Features': 'Dialogue, Twist', 'Words': 'cat, jump, happy', 'Summary': 'Cats play and are happy.',
              'Random sentence': 'The sun was warm.'}
    orders = list(itertools.permutations(fields))
    recs = []
    for i in range(n_instruct):
        head = orders[i * 5 % len(orders)]
        before, after = head[:i % 3 + 1], head[i % 3 + 1:]  # some fields, the Summary too, may follow the story
        text = [f"{k}: {fields[k]}" for k in before] + ["Story: " + ("\n" if i % 2 else "") + story(100 + i)]
        text += [f"{k}: {fields[k]}" for k in after]
        recs.append('\n'.join(text))
    instruct = tmp_path / 'TinyStories-Instruct-valid.txt'
    instruct.write_text('<|endoftext|>\n'.join(recs) + '<|endoftext|>', encoding='utf-8')
    assert any(r.index('Summary:') > r.index('Story:') for r in recs)

    want = [story(i) for i in range(n_plain)] + [story(100 + i) for i in range(n_instruct)]
    out = tmp_path / 'ts'
    run(['data/tinystories/prepare.py', plain, instruct, f'--out_dir={out}', '--num_proc=2'])
    assert docs_of(out / 'train.bin') == [s for i, s in enumerate(want) if i % 10 != 9]
    assert docs_of(out / 'val.bin') == [s for i, s in enumerate(want) if i % 10 == 9]

    out = tmp_path / 'ts12'  # a subset by story count
    run(['data/tinystories/prepare.py', plain, instruct, f'--out_dir={out}', '--stories=20', '--num_proc=1'])
    assert docs_of(out / 'train.bin') + docs_of(out / 'val.bin') == \
        [s for i, s in enumerate(want[:20]) if i % 10 != 9] + [want[9], want[19]]


def test_missing_file(tmp_path):
    r = run(['data/tinystories/prepare.py', tmp_path / 'nope.txt', f'--out_dir={tmp_path}'], expect=None)
    assert r.returncode == 2 and 'does not exist' in r.stderr
    r = run(['data/tinystories/prepare.py', f'--out_dir={tmp_path}'], expect=None, env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 2 and 'could not download TinyStoriesV2-GPT4-train.txt' in r.stderr


def test_tang_poems_character_level(tmp_path):
    import json
    import pickle

    from harness import SHARED
    run(['data/tang_poems/prepare.py', f'--out_dir={tmp_path}'])
    meta = pickle.load(open(tmp_path / 'meta.pkl', 'rb'))
    s = json.load(open(tmp_path / 'summary.json'))
    assert meta['dtype'] == 'uint16' and meta['vocab_size'] == s['vocab_size'] == 9728
    assert s['documents'] == 57603 and s['tokenizer'] == 'char'
    first = json.load(open(f'{SHARED}/tang_poems/poet.tang.0.json', encoding='utf-8'))
    want = ''.join(f"{e['title']}\n{e['author']}\n" + '\n'.join(e['paragraphs']) + '\n\n' for e in first[:9])
    ids = np.fromfile(tmp_path / 'train.bin', dtype=np.uint16)[:len(want)]
    assert ''.join(meta['itos'][int(i)] for i in ids) == want  # poems 0-8 train, poem 9 val
