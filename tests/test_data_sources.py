"""TinyStories (story text from plain and Instruct files, subsets, 9:1) and the Tang poems (characters)."""
import itertools
import os

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


def instruct_record(i, summary_after=False):
    story_text = story(200 + i)
    head = [f"Words: cat, jump{i}", "Features: Dialogue", f"Random sentence: The sun was warm {i}."]
    summary = f"Summary: Cats {i} play."
    return '\n'.join(head + ([] if summary_after else [summary]) + ["Story: " + story_text]
                     + ([summary] if summary_after else []))


def test_tinystories_keep_fields_puts_the_story_last(tmp_path):
    src = tmp_path / 'TinyStories-Instruct-valid.txt'
    src.write_text('<|endoftext|>\n'.join(instruct_record(i, summary_after=i % 2) for i in range(10)) + '\n',
                   encoding='utf-8')
    out = tmp_path / 'ts'
    r = run(['data/tinystories/prepare.py', src, f'--out_dir={out}', '--keep_fields', '--num_proc=1'])
    docs = docs_of(out / 'train.bin') + docs_of(out / 'val.bin')
    assert docs[0] == (f"Features: Dialogue\nWords: cat, jump0\nRandom sentence: The sun was warm 0.\n"
                       f"Summary: Cats 0 play.\nStory: {story(200)}")
    assert docs[1].startswith("Features: Dialogue\nWords: cat, jump1\nRandom sentence: The sun was warm 1.\n"
                              "Summary: Cats 1 play.\nStory: ")  # the Summary that followed the story moved up
    assert all(d.count('\nStory: ') == 1 and d.endswith(story(200 + i)) for i, d in
               enumerate(docs_of(out / 'train.bin')))
    # the summary line says what the tokenizer cost: tokens per character, from summary.json's counts
    import json
    s = json.load(open(out / 'summary.json'))
    assert f"{(s['train_tokens'] + s['val_tokens']) / s['characters']:.3f} tokens per character" in r.stdout


def test_tinystories_refuses_to_replace_a_dataset(tmp_path):
    src = tmp_path / 'TinyStories-Instruct-valid.txt'
    src.write_text('<|endoftext|>\n'.join(instruct_record(i) for i in range(10)) + '\n', encoding='utf-8')
    out = tmp_path / 'ts'
    run(['data/tinystories/prepare.py', src, f'--out_dir={out}', '--num_proc=1'])
    before = (out / 'train.bin').read_bytes()
    r = run(['data/tinystories/prepare.py', src, f'--out_dir={out}', '--num_proc=1'])  # the same: nothing to do
    assert 'nothing to do' in r.stdout and (out / 'train.bin').read_bytes() == before
    r = run(['data/tinystories/prepare.py', src, f'--out_dir={out}', '--keep_fields', '--num_proc=1'], expect=None)
    assert r.returncode == 2 and r.stderr.startswith('error: ') and '--overwrite' in r.stderr
    assert (out / 'train.bin').read_bytes() == before
    run(['data/tinystories/prepare.py', src, f'--out_dir={out}', '--keep_fields', '--overwrite', '--num_proc=1'])
    assert docs_of(out / 'train.bin')[0].startswith('Features: ')


def test_tang_poems_simplified(tmp_path):
    import json
    import pickle

    from opencc import OpenCC

    from harness import SHARED
    src = tmp_path / 'src'  # the 58 files, 3 poems each
    src.mkdir()
    for k in range(0, 58000, 1000):
        poems = json.load(open(f'{SHARED}/tang_poems/poet.tang.{k}.json', encoding='utf-8'))[:3]
        (src / f'poet.tang.{k}.json').write_text(json.dumps(poems, ensure_ascii=False), encoding='utf-8')
    run(['data/tang_poems/prepare.py', f'--src={src}', f'--out_dir={tmp_path / "trad"}'])
    run(['data/tang_poems/prepare.py', f'--src={src}', f'--out_dir={tmp_path / "simp"}', '--simplified'])

    def text(d):
        meta = pickle.load(open(d / 'meta.pkl', 'rb'))
        return ''.join(meta['itos'][int(i)] for i in np.fromfile(d / 'train.bin', dtype=np.uint16)), meta
    trad, trad_meta = text(tmp_path / 'trad')
    simp, simp_meta = text(tmp_path / 'simp')
    assert simp == OpenCC('t2s').convert(trad) and simp != trad
    assert '頭' in trad_meta['stoi'] and '頭' not in simp_meta['stoi'] and '头' in simp_meta['stoi']


def test_tang_poems_simplified_without_opencc(tmp_path):
    """Without OpenCC installed, --simplified is one line that names the package, before any work."""
    (tmp_path / 'opencc.py').write_text("raise ImportError('No module named opencc')\n")  # as if not installed
    out = tmp_path / 'out'
    r = run(['data/tang_poems/prepare.py', f'--out_dir={out}', '--simplified'], expect=None,
            env={'PYTHONPATH': str(tmp_path)})
    assert r.returncode == 2 and r.stderr.strip() == \
        'error: --simplified needs OpenCC: pip install opencc-python-reimplemented'
    assert not os.path.exists(out / 'train.bin')
