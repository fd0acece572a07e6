"""Every bad input of docs/errors.md: the real train.py exits with the documented code and message, and
nothing that was there before is lost (an existing checkpoint keeps its bytes)."""
import os
import re
import shutil

import numpy as np
import pytest
import torch

from harness import ROOT
from harness import TINY, run, torchrun_cmd, train_args


@pytest.fixture(scope='module')
def trained(shakespeare_char, tmp_path_factory):
    """A tiny checkpoint (block_size 32, 1 layer) to misuse."""
    out = str(tmp_path_factory.mktemp('trained'))
    run(train_args(f'--out_dir={out}', '--max_iters=1'))
    return os.path.join(out, 'ckpt.pt')


def with_ckpt(trained, tmp_path, edit=None):
    out = tmp_path / 'out'
    out.mkdir()
    shutil.copy(trained, out / 'ckpt.pt')
    if edit:
        edit(out / 'ckpt.pt')
    return str(out)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def not_a_checkpoint(path):
    torch.save({'weights': torch.zeros(3)}, path)


def other_args(path):
    c = torch.load(path)
    c['model_args']['vocab_size'] = 100  # not a knob, so only the weights can disagree
    torch.save(c, path)


def bad_tokens(tmp_path):
    """A dataset (in a scratch working folder) whose tokens reach 60000, past GPT-2's padded 50304."""
    d = tmp_path / 'data' / 'toobig'
    d.mkdir(parents=True)
    for split in ('train', 'val'):
        np.arange(0, 60000, 7, dtype=np.uint16).tofile(d / f'{split}.bin')


# id, how to set up (returns extra args), args, exit code, message (a regular expression)
ROWS = [
    ('unknown_key', None, ['--batchsize=4'], 2, r"unknown config key 'batchsize'; did you mean batch_size"),
    ('wrong_type', None, ['--max_iters=ten'], 2, r"--max_iters expects a .*int.*, got 'ten'"),
    ('unknown_init_from', None, ['--init_from=resum'], 2, r"init_from='resum' is none of scratch, resume, auto"),
    ('missing_dataset', None, ['--dataset=nosuch'], 2,
     r"no data/nosuch/train.bin: to make it from your own text files: python data/prepare_local.py FILES "
     r"--out_dir=data/nosuch"),
    ('resume_without_checkpoint', 'empty', ['--init_from=resume'], 2, r"no checkpoint at .*/ckpt.pt; train one first"),
    ('truncated_checkpoint', truncate, ['--init_from=resume'], 2,
     r"ckpt.pt is not a readable checkpoint \(\w+\); it is truncated or corrupt"),
    ('truncated_checkpoint_auto', truncate, ['--init_from=auto'], 2,
     r"ckpt.pt is not a readable checkpoint \(\w+\); it is truncated or corrupt"),
    ('not_a_checkpoint', not_a_checkpoint, ['--init_from=resume'], 2,
     r"lacks model, model_args; it is not a checkpoint of this project or nanoGPT"),
    ('weights_of_another_shape', other_args, ['--init_from=resume'], 2,
     r"the checkpoint's weights do not fit its model_args"),
    ('resume_with_other_shape', 'ckpt', ['--init_from=resume', '--n_layer=3'], 2,
     r"the checkpoint's model has n_layer=1 but --n_layer=3 was asked for"),
    ('block_size_above_checkpoint', 'ckpt', ['--init_from=resume', '--block_size=64'], 2,
     r"block_size=64 is larger than the model's 32; use --block_size=32 or smaller"),
    ('scratch_over_checkpoint', 'ckpt', ['--init_from=scratch'], 2,
     r"ckpt.pt already exists and init_from='scratch' would overwrite it"),
    ('tokens_beyond_vocab', bad_tokens, ['--dataset=toobig'], 2,
     r"data/toobig holds token id 59,997 but the model's vocabulary has only 50,304 ids"),
    ('out_dir_not_writable', 'file', [], 2, r"cannot write to out_dir .* \(Not a directory\)"),
    ('heads_do_not_divide_width', None, ['--n_head=5', '--n_embd=32'], 2,
     r"n_embd=32 must be a multiple of n_head=5 .*; change --n_head or --n_embd"),
    ('accumulation_not_divisible', 'torchrun', ['--gradient_accumulation_steps=3'], 1,
     r"gradient_accumulation_steps=3 does not divide by the 2 processes; use a multiple of 2"),
]


@pytest.mark.parametrize('name,setup,args,code,message', ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(shakespeare_char, trained, tmp_path, name, setup, args, code, message):
    out, cwd, cmd = str(tmp_path / 'out'), ROOT, train_args
    if setup == 'ckpt' or callable(setup) and setup is not bad_tokens:
        out = with_ckpt(trained, tmp_path, None if setup == 'ckpt' else setup)
    elif setup == 'empty':
        os.makedirs(out)
    elif setup == 'file':
        (tmp_path / 'a-file').write_text('x')
        out = str(tmp_path / 'a-file' / 'out')
    elif setup is bad_tokens:
        bad_tokens(tmp_path)
        cwd, cmd = str(tmp_path), lambda *a: [os.path.join(ROOT, 'train.py')] + TINY + list(a)
    elif setup == 'torchrun':
        cmd = lambda *a: torchrun_cmd(2, *a)  # noqa: E731
    ckpt = os.path.join(out, 'ckpt.pt')
    before = open(ckpt, 'rb').read() if os.path.exists(ckpt) else None
    r = run(cmd(f"--out_dir={out}", "--max_iters=2", *args), expect=None, cwd=cwd)
    rc, log = r.returncode, r.out
    assert rc == code, log[-3000:]
    assert re.search(r'error: .*' + message, log), log[-3000:]
    assert 'Traceback' not in log or setup == 'torchrun'  # a message, not a crash
    if before is not None:
        assert open(ckpt, 'rb').read() == before  # nothing lost
    elif os.path.isdir(out):
        assert not os.path.exists(ckpt)  # nothing written that looks valid


def test_docs_table_lists_every_row():
    """docs/errors.md has one table row per test above, by id."""
    doc = open(os.path.join(ROOT, 'docs', 'errors.md')).read()
    for row in ROWS:
        assert f'`{row[0]}`' in doc, row[0]
