"""train.py end to end on CPU with a tiny model: the loss falls, resume continues exactly, DDP under torchrun
(gloo) equals one process with the same total accumulation, finetuning from local GPT-2 weights, wandb
offline, eval_only."""
import glob
import json
import os
import re
import shutil

import numpy as np
import pytest
import torch

import harness
from harness import ROOT, load_model, run
from nanogpt.checkpoint import load_checkpoint

# the harness's tiny model, two layers 64 wide and no dropout: big enough for the loss to fall clearly
TINY = harness.TINY + ['--n_layer=2', '--n_embd=64', '--batch_size=8', '--dropout=0.0', '--eval_iters=4',
                       '--warmup_iters=0', '--lr_decay_iters=40', '--min_lr=1e-3', '--gradient_accumulation_steps=4',
                       '--eval_interval=20']
TORCHRUN = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']


def train_losses(stdout):
    """{iter: loss} from the 'iter N: loss X' lines."""
    return {int(i): float(x) for i, x in re.findall(r'^iter (\d+): loss ([\d.]+)', stdout, re.M)}


def eval_losses(stdout):
    """{iter: (train, val)} from the 'step N: train loss X, val loss Y' lines."""
    return {int(i): (float(t), float(v)) for i, t, v in
            re.findall(r'^step (\d+): train loss ([\d.]+), val loss ([\d.]+)', stdout, re.M)}


def weights(out_dir):
    return load_checkpoint(str(out_dir))['model']


def fixed_batch_loss(out_dir):
    """The loss of a checkpoint on fixed val windows, computed here, not by train.py."""
    model = load_model(out_dir)
    data = np.memmap(os.path.join(ROOT, 'data', 'shakespeare_char', 'val.bin'), dtype=np.uint16, mode='r')
    ix = range(0, 64 * 1000, 1000)
    x = torch.stack([torch.from_numpy(data[i:i + 32].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 33].astype(np.int64)) for i in ix])
    with torch.no_grad():
        return model(x, y)[1].item()


def wandb_history(wandb_dir):
    """The rows logged to the one offline run under wandb_dir, read from its .wandb file: a LevelDB-style log
    (32 KiB blocks of records with a 7-byte header: crc, length, type) of wandb's protobuf Records."""
    from wandb.proto.wandb_internal_pb2 import Record
    [path] = glob.glob(os.path.join(wandb_dir, 'wandb', 'offline-run-*', 'run-*.wandb'))
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:4] == b':W&B'
    pos, chunk, rows = 7, b'', []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], 'little'), data[pos + 6]
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = Record()
            record.ParseFromString(chunk)
            chunk = b''
            if record.WhichOneof('record_type') == 'history':
                rows.append({i.key or '/'.join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


@pytest.fixture(scope='module')
def scratch(tmp_path_factory, shakespeare_char):
    """One process, 41 iterations from scratch with gradient accumulation 4, logging to wandb offline."""
    tmp = tmp_path_factory.mktemp('scratch')
    p = run(['train.py'] + TINY + ['--max_iters=40', '--wandb_log=True', f'--out_dir={tmp / "out"}'],
            env={'WANDB_MODE': 'offline', 'WANDB_DIR': str(tmp)})
    return tmp, p.stdout


def test_loss_falls(scratch):
    tmp, stdout = scratch
    evals = eval_losses(stdout)
    assert sorted(evals) == [0, 20, 40]
    assert evals[0][1] > 4.0  # about ln(65) at init
    assert evals[0][1] > evals[20][1] > evals[40][1] and evals[40][1] < evals[0][1] - 0.5
    assert sorted(train_losses(stdout)) == list(range(41))
    ckpt = load_checkpoint(str(tmp / 'out'))
    assert ckpt['iter_num'] == 41 and ckpt['config']['gradient_accumulation_steps'] == 4
    assert not any(k.startswith('_orig_mod.') for k in ckpt['model'])


def test_wandb_offline_records_train_and_val_loss(scratch):
    tmp, stdout = scratch
    rows = [r for r in wandb_history(str(tmp)) if 'val/loss' in r]
    assert [r['iter'] for r in rows] == [0, 20, 40]
    for r in rows:
        train, val = eval_losses(stdout)[r['iter']]
        assert round(r['train/loss'], 4) == train and round(r['val/loss'], 4) == val


def test_resume_continues_where_it_left_off(scratch, tmp_path):
    """21 iterations, then a resumed run to 41: the same losses and bitwise the same weights as one run."""
    _, uninterrupted = scratch
    out = tmp_path / 'out'
    first = run(['train.py'] + TINY + ['--max_iters=20', f'--out_dir={out}'])
    assert load_checkpoint(str(out))['iter_num'] == 21
    assert 'Warning' not in first.stderr  # e.g. no deprecated torch.amp calls
    second = run(['train.py'] + TINY + ['--max_iters=40', '--init_from=resume', f'--out_dir={out}'])
    assert f'Resuming training from {out}' in second.stdout
    before, after, whole = train_losses(first.stdout), train_losses(second.stdout), train_losses(uninterrupted)
    assert sorted(before) == list(range(21)) and sorted(after) == list(range(21, 41))
    assert {**before, **after} == whole
    resumed, straight = weights(out), weights(scratch[0] / 'out')
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_ddp_two_processes_equal_one_with_the_same_accumulation(tmp_path, shakespeare_char):
    """torchrun, 2 processes on CPU (gloo), accumulation 4 split 2 + 2: the weights and loss of one process
    with accumulation 4 on the same micro-batches. (Few steps: later, this plateau of the tiny model amplifies
    float rounding differences from the order of the gradient sums by 10^4.)"""
    args = TINY + ['--max_iters=7', '--eval_interval=4']
    p = run(TORCHRUN + ['train.py'] + args + [f'--out_dir={tmp_path / "ddp"}'])
    assert 'tokens per iteration will be: 1,024' in p.stdout  # 2 micro-steps x 8 x 32, x 2 processes
    evals = eval_losses(p.stdout)
    assert sorted(evals) == [0, 4] and evals[4][1] < evals[0][1] and sorted(train_losses(p.stdout)) == list(range(8))
    run(['train.py'] + args + [f'--out_dir={tmp_path / "one"}'])
    ddp, single = weights(tmp_path / 'ddp'), weights(tmp_path / 'one')
    assert list(ddp) == list(single)
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], atol=1e-5, rtol=0)
    loss_ddp, loss_single = fixed_batch_loss(tmp_path / 'ddp'), fixed_batch_loss(tmp_path / 'one')
    assert loss_single < 3.9 and abs(loss_ddp - loss_single) < 1e-5


def test_eval_only(scratch, tmp_path):
    shutil.copytree(scratch[0] / 'out', tmp_path / 'out')
    before = load_checkpoint(str(tmp_path / 'out'))
    p = run(['train.py'] + TINY + ['--init_from=resume', '--eval_only=True', f'--out_dir={tmp_path / "out"}'])
    assert list(eval_losses(p.stdout)) == [41] and not train_losses(p.stdout)
    after = load_checkpoint(str(tmp_path / 'out'))
    assert after['iter_num'] == 41
    assert all(torch.equal(before['model'][k], after['model'][k]) for k in before['model'])


def test_finetune_local_gpt2_then_sample(gpt2_folder, shakespeare, tmp_path):
    """From a folder written by transformers' save_pretrained, on shakespeare (GPT-2 BPE), block cropped to 64."""
    out = tmp_path / 'out'
    p = run(['train.py', '--device=cpu', '--compile=False', '--dataset=shakespeare', f'--init_from={gpt2_folder}',
             '--block_size=64', '--batch_size=4', '--gradient_accumulation_steps=1', '--max_iters=6',
             '--eval_interval=3', '--eval_iters=2', '--learning_rate=3e-3', '--decay_lr=False', '--dropout=0.1',
             '--log_interval=1', f'--out_dir={out}'])
    assert f'loading weights from pretrained gpt: {gpt2_folder}' in p.stdout
    evals = eval_losses(p.stdout)
    assert sorted(evals) == [0, 3, 6] and evals[6][1] < evals[0][1]
    ckpt = load_checkpoint(str(out))
    assert ckpt['model_args'] == dict(n_layer=2, n_head=2, n_embd=64, block_size=64, bias=True, vocab_size=50257,
                                      dropout=0.1)
    assert ckpt['model']['transformer.wpe.weight'].shape == (64, 64)
    s = run(['sample.py', f'--out_dir={out}', '--device=cpu', '--num_samples=2', '--max_new_tokens=8',
             '--start=ROMEO:'])
    samples = s.stdout.split("Overriding: start = 'ROMEO:'\n")[1].split('---------------\n')
    assert len(samples) == 3 and all(t.startswith('ROMEO:') for t in samples[:2])


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, shakespeare_char):
    p = run(['train.py', '--dataset=shakespeare_char', f'--out_dir={tmp_path / "out"}'], expect=None)
    assert p.returncode == 2 and "torch sees no CUDA GPU; run on the CPU with --device=cpu" in p.stderr
