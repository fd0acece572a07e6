"""A trained byte-level BPE tokenizer (data/train_tokenizer.py, nanogpt.tokenizer.TrainedTokenizer): exact round
trips, special tokens only from encode(), the dataset and checkpoint records, and train/sample/eval with it."""
import json
import os
import shutil

import numpy as np

import harness
from harness import bad_input, run
from nanogpt.tokenizer import CHAT_TOKENS, RESERVED_TOKENS, TrainedTokenizer, dataset_tokenizer
from tokenizer_helpers import REVIEWS, SHAKESPEARE, trained_tokenizer  # noqa: F401 (a fixture)

TEXTS = ["你好，世界！这本书很好看。", "emoji 🤖👍🏽 and café naïve", "  leading\n\n\n\ttabs   and   runs   \r\n",
         "全唐诗：床前明月光，疑是地上霜。", "𠀀𠀁 (astral CJK) ㄅㄆ ﾊﾝｶｸ", "", " ", "\u00a0\u2003 odd spaces\u200b",
         "x<|endoftext|>y<|user|>z<|reserved_3|>", SHAKESPEARE[:2000], REVIEWS[7]]


def test_script_reports_the_measures(trained_tokenizer):  # noqa: F811
    path, out = trained_tokenizer
    assert 'vocabulary 600 (16 special tokens, <|endoftext|> = 0)' in out and 'decodes exactly' in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith('  ') and 'per char' not in line}
    assert set(rows) == {'trained', 'GPT-2', 'characters'}
    report = json.load(open(os.path.join(os.path.dirname(path), 'tokenizer_report.json')))
    per_char = report['heldout']['tokens_per_char']
    assert per_char['characters'] == 1.0 and per_char['trained'] < per_char['gpt2']  # even 600 ids beat GPT-2 here
    assert report['heldout']['tokens']['trained'] == int(rows['trained'][2].replace(',', ''))
    assert report['trained_on']['documents'] > 0 and report['vocab_size'] == 600
    # count_tokens.py --corpus gives the same counts on the same held-out documents
    root = os.path.dirname(os.path.dirname(path))
    r = run(['data/count_tokens.py', '--corpus', os.path.join(root, 'reviews.jsonl'), os.path.join(root, 'shakespeare.txt'),
             '--heldout=0.05', f'--tokenizer=gpt2,char,{path}'])
    counted = {line.split()[0]: int(line.split()[1].replace(',', '')) for line in r.stdout.splitlines()[2:]}
    assert counted == {'gpt2': report['heldout']['tokens']['gpt2'], 'char': report['heldout']['characters'],
                       path: report['heldout']['tokens']['trained']}


def test_round_trip_and_special_tokens(trained_tokenizer):  # noqa: F811
    tok = TrainedTokenizer(trained_tokenizer[0])
    assert tok.vocab_size == 600 and tok.eot == 0
    assert list(tok.special) == list(RESERVED_TOKENS) and [tok.special[t] for t in CHAT_TOKENS] == [1, 2, 3, 4]
    specials = set(tok.special.values())
    for text in TEXTS:
        ids = tok.encode_ordinary(text)
        assert tok.decode(ids) == text
        assert b''.join(tok.token_bytes(i) for i in ids) == text.encode('utf-8')
        assert not specials & set(ids)  # whatever the text holds
    assert tok.encode('x<|endoftext|>y<|user|>') == tok.encode_ordinary('x') + [0] + tok.encode_ordinary('y') + [2]
    assert tok.decode(tok.encode('a<|end|>b')) == 'a<|end|>b'
    assert [tok.token_bytes(i) for i in range(16)] == [b''] * 16
    assert sorted(b for i in range(16, 272) for b in tok.token_bytes(i)) == list(range(256))  # every byte a token
    # a character cut between tokens decodes to U+FFFD until it is whole (sample.py holds such text back)
    ids = tok.encode_ordinary('疆')
    assert len(ids) > 1 and tok.decode(ids[:-1]).endswith('\ufffd') and tok.decode(ids) == '疆'
    assert tok.encode_ordinary_batch(TEXTS) == [tok.encode_ordinary(t) for t in TEXTS]


def test_other_tools_load_it(trained_tokenizer):  # noqa: F811
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    path = trained_tokenizer[0]
    tok = TrainedTokenizer(path)
    hf = PreTrainedTokenizerFast(tokenizer_file=path)
    raw = Tokenizer.from_file(path)
    for text in TEXTS[:5]:
        assert hf.encode(text) == raw.encode(text).ids == tok.encode(text)
        assert hf.decode(hf.encode(text)) == text


def test_bad_tokenizer_files(tmp_path, trained_tokenizer):  # noqa: F811
    (tmp_path / 'not.json').write_text('{"hello": 1}')
    (tmp_path / 'c.txt').write_text('text')
    r = run(['data/prepare_local.py', tmp_path / 'c.txt', f'--tokenizer={tmp_path / "not.json"}',
             f'--out_dir={tmp_path / "d"}'], expect=None)
    assert r.returncode == 2 and 'is not a tokenizer.json that Hugging Face tokenizers loads' in r.stderr
    r = run(['data/prepare_local.py', tmp_path / 'c.txt', f'--tokenizer={tmp_path / "nope.json"}',
             f'--out_dir={tmp_path / "d"}'], expect=None)
    assert r.returncode == 2 and 'is not gpt2, char or a tokenizer.json file' in r.stderr
    r = run(['data/train_tokenizer.py', tmp_path / 'c.txt', '--vocab_size=100', f'--out_dir={tmp_path / "t"}'], expect=None)
    assert r.returncode == 2 and 'leaves no room for merges' in r.stderr
    r = run(['data/train_tokenizer.py', tmp_path / 'c.txt', f'--out_dir={os.path.dirname(trained_tokenizer[0])}'],
            expect=None)
    assert r.returncode == 2 and 'already exists' in r.stderr


# the harness's tiny model, 64 wide without dropout, logging and evaluating only at the end
TINY = harness.TINY + ['--n_embd=64', '--batch_size=8', '--gradient_accumulation_steps=1', '--eval_interval=60',
                       '--log_interval=60', '--warmup_iters=0', '--lr_decay_iters=60', '--dropout=0.0']


def test_prepare_train_sample_eval_and_refusals(tmp_path, trained_tokenizer, gpt2_folder):  # noqa: F811
    path = trained_tokenizer[0]
    tok = TrainedTokenizer(path)
    corpus = tmp_path / 'zh.jsonl'
    # a poem the model learns by heart in a few steps, so greedy sampling gives its characters, most of them
    # 2-3 byte tokens each in this small vocabulary (what streaming must not print cut)
    docs = [f"第{i}首：床前明月光，疑是地上霜。举头望明月，低头思故乡。" for i in range(400)]
    corpus.write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in docs), encoding='utf-8')
    d = tmp_path / 'zh'
    run(['data/prepare_local.py', corpus, f'--tokenizer={path}', f'--out_dir={d}', '--val_fraction=0.1', '--num_proc=1'])
    s = json.load(open(d / 'summary.json'))
    assert s['tokenizer'] == 'trained' and s['vocab_size'] == 600 and s['tokenizer_sha256'] == tok.sha256
    assert open(d / 'tokenizer.json', 'rb').read() == open(path, 'rb').read()
    assert dataset_tokenizer(str(d)).sha256 == tok.sha256

    out = tmp_path / 'run'
    r = run(['train.py', *TINY, f'--dataset={d}', f'--out_dir={out}', '--max_iters=60'])
    assert 'model vocab 640' in r.stdout  # 600 padded up to a multiple of 64
    import torch
    ck = torch.load(out / 'ckpt.pt', weights_only=True)
    assert ck['model_args']['vocab_size'] == 640 and ck['config']['tokenizer_sha256'] == tok.sha256

    # greedy: the first sample is streamed token by token, the second printed whole; they must agree exactly
    r = run(['sample.py', f'--out_dir={out}', f'--dataset={d}', '--device=cpu', '--start=床前', '--num_samples=2', '--temperature=0',
             '--max_new_tokens=40'])
    first, second = r.stdout.split('---------------\n')[:2]
    first = first[first.rindex('\n床前') + 1:]
    assert first == second and '明月' in first[2:]
    assert len(tok.encode_ordinary('明月')) > 2  # its characters are cut between tokens

    r = run(['eval.py', f'--out_dir={out}', f'--dataset={d}', '--device=cpu'])
    bpb = float(r.stdout.split('bits per byte ')[1].split()[0])
    val = np.fromfile(d / 'val.bin', dtype=np.uint16)
    n_bytes = sum(len(tok.token_bytes(int(i))) for i in val[1:])
    assert f'{n_bytes:,} bytes' in r.stdout and 0 < bpb < 8

    # a checkpoint of another tokenizer: sample.py/eval.py (dataset_tokenizer) and train.py's resume refuse it
    with bad_input() as e:
        dataset_tokenizer(str(d), 'f' * 64, 'OUT/ckpt.pt')
    assert e.value.code == 2
    ck['config']['tokenizer_sha256'] = 'f' * 64
    torch.save(ck, out / 'ckpt.pt')
    r = run(['train.py', *TINY, f'--dataset={d}', f'--out_dir={out}', '--init_from=resume', '--max_iters=61'], expect=None)
    assert r.returncode == 2 and 'was trained on another tokenization' in r.stderr
    ck['config']['tokenizer_sha256'] = tok.sha256
    torch.save(ck, out / 'ckpt.pt')
    r = run(['train.py', *TINY, f'--dataset={d}', f'--out_dir={tmp_path / "ft"}', f'--init_from={gpt2_folder}'], expect=None)
    assert r.returncode == 2 and 'GPT-2 weights know GPT-2 BPE ids' in r.stderr

    # the tokenizer.json gone, or another one in its place: one line, exit 2, for every script
    os.rename(d / 'tokenizer.json', tmp_path / 'kept.json')
    for script in (['sample.py', f'--out_dir={out}', f'--dataset={d}', '--device=cpu', '--max_new_tokens=2'],
                   ['eval.py', f'--out_dir={out}', f'--dataset={d}', '--device=cpu'],
                   ['train.py', *TINY, f'--dataset={d}', f'--out_dir={tmp_path / "run2"}', '--max_iters=1']):
        r = run(script, expect=None)
        assert r.returncode == 2 and 'tokenizer.json is missing' in r.stderr and r.stderr.count('\n') == 1, script
    shutil.copy(os.path.join(os.path.dirname(path), 'tokenizer_report.json'), d / 'tokenizer.json')
    r = run(['sample.py', f'--out_dir={out}', f'--dataset={d}', '--device=cpu', '--max_new_tokens=2'], expect=None)
    assert r.returncode == 2 and 'is not the tokenizer expected' in r.stderr


def test_training_text_is_bounded(tmp_path):
    # --max_chars stops the stream; --sample keeps a share of documents by a hash of their text
    corpus = tmp_path / 'r.jsonl'
    corpus.write_text(''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in REVIEWS[:400]), encoding='utf-8')
    reports = {}
    for name, extra in (('budget', ['--max_chars=5000']), ('sample', ['--sample=0.5'])):
        r = run(['data/train_tokenizer.py', corpus, '--vocab_size=300', f'--out_dir={tmp_path / name}', *extra])
        reports[name] = json.load(open(tmp_path / name / 'tokenizer_report.json'))['trained_on']
        assert ('budget was spent' in r.stdout) == (name == 'budget')
    total = sum(len(t) for t in REVIEWS[:400])
    assert reports['budget']['characters'] <= 5000 and reports['budget']['budget_reached']
    assert 0.3 * total < reports['sample']['characters'] < 0.7 * total and not reports['sample']['budget_reached']
