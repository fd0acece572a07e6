"""Issue 21 point 7, found on held-out files: a chat dataset whose val split is shorter than a block; a run
saved only as shards, sampled, evaluated and chatted with; eval.py on a live run."""
import json
import os
import re
import shutil
import signal

import pytest

from harness import ROOT, SHARED, popen, run, torchrun_cmd, train_cmd
from test_reliability import wait_for_line

TINY_CHAT = ['--device=cpu', '--compile=False', '--dtype=float32', '--n_layer=1', '--n_head=2', '--n_embd=32',
             '--batch_size=2', '--gradient_accumulation_steps=1', '--eval_iters=2', '--eval_interval=2']


def chat_dataset(tmp_path_factory, n, val_fraction):
    """data/<tmp>: the first n English conversations in ShareGPT's layout, prepared at block_size 128."""
    names = {'user': 'human', 'assistant': 'gpt', 'system': 'system'}
    src = tmp_path_factory.mktemp('sg') / f'sg{n}.jsonl'
    with open(os.path.join(SHARED, 'chat', 'chatterbot_en.jsonl')) as f, open(src, 'w') as out:
        for line in list(f)[:n]:
            turns = json.loads(line)['messages']
            out.write(json.dumps({'conversations': [{'from': names[t['role']], 'value': t['content']}
                                                    for t in turns]}) + '\n')
    name = f'test_sharegpt{n}_{os.getpid()}'
    run(['data/prepare_chat.py', src, f'--out_dir=data/{name}', '--block_size=128', f'--val_fraction={val_fraction}'])
    return name


@pytest.fixture(scope='module')
def sharegpt60(tmp_path_factory):
    """60 conversations; the val split is 3 of them, 59 tokens: fewer than a block."""
    name = chat_dataset(tmp_path_factory, 60, 0.05)
    yield name
    shutil.rmtree(os.path.join(ROOT, 'data', name), ignore_errors=True)


def test_chat_val_split_shorter_than_a_block_trains(sharegpt60, tmp_path):
    summary = json.load(open(os.path.join(ROOT, 'data', sharegpt60, 'summary.json')))
    assert summary['conversations']['val'] == 3 and summary['val_tokens'] < 128
    out = tmp_path / 'out'
    log = run(['train.py', f'--dataset={sharegpt60}', '--block_size=128', '--max_iters=2', f'--out_dir={out}']
              + TINY_CHAT).out
    assert 'step 2: train loss' in log and (out / 'ckpt.pt').exists()


@pytest.fixture(scope='module')
def sharded_run(tmp_path_factory):
    """out_dir of a 2-rank FSDP run on a chat dataset saved only as shards (ckpt.dcp, no ckpt.pt)."""
    name = chat_dataset(tmp_path_factory, 200, 0.2)
    out = tmp_path_factory.mktemp('sharded') / 'out'
    run(torchrun_cmd(2, f'--dataset={name}', '--block_size=128', '--max_iters=3', f'--out_dir={out}',
                     '--fsdp=True', '--sharded_checkpoint=True', *TINY_CHAT, '--gradient_accumulation_steps=2'))
    assert not (out / 'ckpt.pt').exists() and (out / 'ckpt.dcp').is_symlink()
    yield out
    shutil.rmtree(os.path.join(ROOT, 'data', name), ignore_errors=True)


def test_sharded_run_is_sampled_evaluated_and_chatted_with(sharded_run, tmp_path):
    """sample.py, eval.py and chat.py read the shards into one process (the safe reader and planner of a resume):
    the weights are the very ones torch's own converter reads from them."""
    out = sharded_run
    assert run(['sample.py', f'--out_dir={out}', '--device=cpu', '--num_samples=1', '--max_new_tokens=5']).returncode == 0
    assert 'assistant loss' in run(['eval.py', f'--out_dir={out}', '--device=cpu', '--max_answers=1']).out
    run(['chat.py', f'--out_dir={out}', '--prompt=What is AI?', '--temperature=0', '--device=cpu'])
    from nanogpt.serve import load  # serve.py's loader: the same shards, and a chat model
    assert load(str(out))[2] is None
    import torch
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    from nanogpt.parallel import load_latest
    checkpoint = load_latest(str(out))
    assert checkpoint['path'] == f'{out}/ckpt.dcp' and checkpoint['iter_num'] == 4
    dcp_to_torch_save(str(out / 'ckpt.dcp'), str(tmp_path / 'converted.pt'))  # a trusted file: ours
    converted = torch.load(tmp_path / 'converted.pt')['model']
    assert all(torch.equal(converted[k], v) for k, v in checkpoint['model'].items())
    # a new run starts from its weights
    log = run(['train.py', f'--init_from={out}', f"--dataset={checkpoint['config']['dataset']}", f'--out_dir={tmp_path / "new"}',
               '--block_size=128', '--max_iters=0'] + TINY_CHAT).out
    assert f"initializing from the weights of {out}/ckpt.dcp" in log
    # and a new run there is refused naming what it would overwrite: the sharded checkpoint
    r = run(['train.py', '--dataset=shakespeare_char', f'--out_dir={out}'] + TINY_CHAT, expect=2)
    assert f"error: {out}/ckpt.dcp already exists and init_from='scratch' would overwrite it" in r.stderr


def test_eval_on_a_live_run_is_read_only(shakespeare_char, tmp_path):
    """eval.py while train.py still runs: the latest checkpoint, evaluated without the run's lock; nothing is
    written to the run's folder (its log.jsonl gets no row), the numbers go to stdout or --log_dir's log; the
    run goes on and ends as usual."""
    out = tmp_path / 'out'
    small = os.path.join(ROOT, 'data', f'test_small_char_{os.getpid()}')  # shakespeare_char's first 4096 val ids
    os.makedirs(small, exist_ok=True)
    shutil.copy(os.path.join(shakespeare_char, 'meta.pkl'), small)
    with open(os.path.join(shakespeare_char, 'val.bin'), 'rb') as f, open(os.path.join(small, 'val.bin'), 'wb') as g:
        g.write(f.read(2 * 4096))
    evaluate = ['eval.py', f'--out_dir={out}', f'--dataset={os.path.basename(small)}', '--device=cpu']
    p = popen(train_cmd(f'--out_dir={out}', '--max_iters=100000'))
    try:
        wait_for_line(p, r'^iter 5:')  # logged once the checkpoint of iter 5 is written
        r = run(evaluate)
        assert re.search(r'^loss [\d.]+, perplexity', r.stdout, re.M), r.out
        assert f"{out} is in use by a live run (pid {p.pid}, train.py): its latest checkpoint was evaluated " \
               f"read-only and its log left alone" in r.stdout
        run(evaluate + [f'--log_dir={tmp_path / "evals"}'])
        rows = [json.loads(line) for line in open(tmp_path / 'evals' / 'log.jsonl')]
        assert [row['kind'] for row in rows] == ['config', 'evaluate'] and rows[1]['model'] == str(out)
        assert p.poll() is None  # still training
    finally:
        p.send_signal(signal.SIGTERM)
        rest = p.stdout.read()
        shutil.rmtree(small)
    assert p.wait(60) == 0, rest
    assert not any(json.loads(line)['kind'] == 'evaluate' for line in open(out / 'log.jsonl'))
