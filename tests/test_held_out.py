"""Issue 21 point 7, found on held-out files: a chat dataset whose val split is shorter than a block; a run
saved only as shards, sampled, evaluated and chatted with; eval.py on a live run."""
import json
import os
import shutil

import pytest

from harness import ROOT, SHARED, run

TINY_CHAT = ['--device=cpu', '--compile=False', '--dtype=float32', '--n_layer=1', '--n_head=2', '--n_embd=32',
             '--batch_size=2', '--gradient_accumulation_steps=1', '--eval_iters=2', '--eval_interval=2']


@pytest.fixture(scope='module')
def sharegpt60(tmp_path_factory):
    """data/<tmp>: 60 ShareGPT conversations prepared at block_size 128; its val split is 3 conversations, 59
    tokens: fewer than a block."""
    names = {'user': 'human', 'assistant': 'gpt', 'system': 'system'}
    src = tmp_path_factory.mktemp('sg') / 'sg60.jsonl'
    with open(os.path.join(SHARED, 'chat', 'chatterbot_en.jsonl')) as f, open(src, 'w') as out:
        for line in list(f)[:60]:
            turns = json.loads(line)['messages']
            out.write(json.dumps({'conversations': [{'from': names[t['role']], 'value': t['content']}
                                                    for t in turns]}) + '\n')
    name = f'test_sharegpt60_{os.getpid()}'
    run(['data/prepare_chat.py', src, f'--out_dir=data/{name}', '--block_size=128', '--val_fraction=0.05'])
    yield name
    shutil.rmtree(os.path.join(ROOT, 'data', name), ignore_errors=True)


def test_chat_val_split_shorter_than_a_block_trains(sharegpt60, tmp_path):
    summary = json.load(open(os.path.join(ROOT, 'data', sharegpt60, 'summary.json')))
    assert summary['conversations']['val'] == 3 and summary['val_tokens'] < 128
    out = tmp_path / 'out'
    log = run(['train.py', f'--dataset={sharegpt60}', '--block_size=128', '--max_iters=2', f'--out_dir={out}']
              + TINY_CHAT).out
    assert 'step 2: train loss' in log and (out / 'ckpt.pt').exists()
