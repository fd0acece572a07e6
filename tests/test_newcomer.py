"""A newcomer's day (issue 16): continuing on a new dataset, appends with other options, hints for a wrong
--dataset or --device, wandb without a key, no MFU on a CPU. (--help is in test_configurator.py.)"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness import bad_input, ROOT, run
from nanogpt.runlog import read_log

TINY = ['--device=cpu', '--compile=False', '--dtype=float32', '--n_layer=1', '--n_head=2', '--n_embd=32',
        '--block_size=32', '--batch_size=4', '--gradient_accumulation_steps=1', '--dropout=0.0', '--eval_iters=2',
        '--eval_interval=5', '--log_interval=1', '--warmup_iters=0', '--learning_rate=3e-3']


def train(cwd, *args, expect=0):
    return run([os.path.join(ROOT, 'train.py')] + TINY + list(args), cwd=str(cwd), expect=expect)


@pytest.fixture(scope='module')
def finished(shakespeare_char, tmp_path_factory):
    """A working folder with two character datasets of the same vocabulary (data/a: shakespeare_char, data/b:
    other text as train and val) and out/, a run on a finished at max_iters=10 (its checkpoint at iter 11)."""
    from nanogpt.dataset import write_bin, write_summary
    root = tmp_path_factory.mktemp('newcomer')
    shutil.copytree(shakespeare_char, root / 'data' / 'a', ignore=shutil.ignore_patterns('input.txt', '*.py'))
    ids = np.fromfile(root / 'data' / 'a' / 'train.bin', dtype=np.uint16)
    (root / 'data' / 'b').mkdir()
    write_bin(str(root / 'data' / 'b' / 'train.bin'), ids[500_000:], 65)
    write_bin(str(root / 'data' / 'b' / 'val.bin'), ids[:50_000], 65)
    shutil.copy(root / 'data' / 'a' / 'meta.pkl', root / 'data' / 'b' / 'meta.pkl')
    write_summary(str(root / 'data' / 'b'), 'char', 65, documents=1, characters=550_000)
    p = train(root, '--dataset=a', '--max_iters=10', '--lr_decay_iters=10', '--out_dir=out')
    return root, p


def test_resume_with_nothing_left_to_train(finished):
    root, _ = finished
    log, ckpt = (root / 'out' / 'log.jsonl').read_bytes(), (root / 'out' / 'ckpt.pt').read_bytes()
    p = train(root, '--dataset=b', '--max_iters=10', '--out_dir=out', '--init_from=resume', expect=2)
    assert p.returncode == 2 and 'Traceback' not in p.stderr
    assert ("error: out/ckpt.pt is at iter 11 and max_iters=10: nothing left to train; to go on, pass a larger "
            "--max_iters (e.g. --max_iters=20) and a --lr_decay_iters to match") in p.stderr
    assert (root / 'out' / 'log.jsonl').read_bytes() == log and (root / 'out' / 'ckpt.pt').read_bytes() == ckpt


def test_auto_restart_of_a_finished_run_exits_0(capsys):
    """Under init_from=auto (Kubernetes, torchrun restarts) a finished run restarted is not a failure."""
    from nanogpt.resume import check_left_to_train
    check_left_to_train('out', 11, 11, 11, auto=False)  # one iteration left: no exit
    with pytest.raises(SystemExit) as e:
        check_left_to_train('out', 11, 10, 10, auto=True)
    assert e.value.code == 0
    assert 'out/ckpt.pt is at iter 11, past max_iters=10: the run is finished, nothing left to train' in capsys.readouterr().out


def test_resume_on_a_new_dataset_says_what_continues_and_restarts(finished):
    root, first = finished
    out = str(root / 'out2')
    shutil.copytree(root / 'out', out)
    old = torch.load(os.path.join(out, 'ckpt.pt'))
    assert old['iter_num'] == 11 and old['val_sha256'] == json.load(open(root / 'data' / 'a' / 'summary.json'))['val_sha256']
    p = train(root, '--dataset=b', '--max_iters=20', '--lr_decay_iters=20', f'--out_dir={out}', '--init_from=resume')
    assert f"continuing {out}/ckpt.pt at iter 11 (of max_iters=20):" in p.stdout
    assert "continued: weights, optimizer state (AdamW moments), iteration count, lr schedule at iter 11" in p.stdout
    assert "changed by this command: dataset 'a' -> 'b', max_iters 10 -> 20, lr_decay_iters 10 -> 20" in p.stdout
    assert f"starts over: best_val_loss (was {old['best_val_loss']:.4f}), as the val data changed (dataset a -> b)" in p.stdout
    # best_val_loss is the best on b's val set alone, even where b's losses are above a's best
    header, rows = read_log(out)
    new_vals = [r['val_loss'] for r in rows if r['kind'] == 'eval' and r['iter'] > 11]
    ckpt = torch.load(os.path.join(out, 'ckpt.pt'))
    assert len(new_vals) == 2 and ckpt['best_val_loss'] == pytest.approx(min(new_vals), abs=1e-6)
    assert ckpt['config']['dataset'] == 'b' and ckpt['val_sha256'] != old['val_sha256']
    # the record: a resume row that names the change, kept in the CSV
    resume = [r for r in rows if r['kind'] == 'resume']
    assert len(resume) == 1 and resume[0]['iter'] == 11 and resume[0]['tokens'] == 11 * header['tokens_per_iter']
    assert (resume[0]['dataset'], resume[0]['previous_dataset'], resume[0]['val_changed']) == ('b', 'a', True)
    csv_rows = list(csv.DictReader(io.StringIO(run(['-m', 'nanogpt.runlog', out]).stdout)))
    assert [r['kind'] for r in csv_rows].count('resume') == 1
    r = next(r for r in csv_rows if r['kind'] == 'resume')
    assert (r['iter'], r['dataset'], r['previous_dataset'], r['val_changed']) == ('11', 'b', 'a', 'True')
    assert json.loads(r['config_changes'])['dataset'] == 'b'
    # no MFU on a CPU: none printed, none logged
    for p_ in (first, p):
        assert 'mfu' not in p_.stdout and 'iter 3: loss' in first.stdout
    assert all(r['mfu_pct'] is None for r in rows if r['kind'] in ('train', 'eval'))
    # plot.py: the curves break at the change, which the legend and the summary name
    png = str(root / 'loss.png')
    printed = run(['plot.py', out, f'--out={png}']).stdout
    assert "out2: val data changed at iter 11 (a -> b); the curves break there" in printed
    assert "(on the val data since the last change)" in printed
    assert open(png, 'rb').read(4) == b'\x89PNG'


def test_val_change_by_name_or_by_checksum():
    from nanogpt.resume import val_changed
    ckpt = {'config': {'dataset': 'a'}, 'val_sha256': 'x'}
    assert val_changed(ckpt, 'a', 'x') == (False, 'a')
    assert val_changed(ckpt, 'b', 'x') == (True, 'a')  # another name
    assert val_changed(ckpt, 'a', 'y') == (True, 'a')  # the same name, prepared again with other val data
    assert val_changed({'config': {'dataset': 'a'}}, 'a', 'y') == (False, 'a')  # a checkpoint from before the checksum


def test_append_with_other_options_is_refused(tmp_path):
    docs = tmp_path / 'docs'
    docs.mkdir()
    for i in range(40):
        (docs / f'{i}.txt').write_text(f"story {i}\n\nthe end of {i}\n")
    more = tmp_path / 'more'
    more.mkdir()
    (more / 'x.txt').write_text("another\n\nstory\n")
    out = tmp_path / 'data' / 'mine'
    prep = lambda *a: run(['data/prepare_local.py', *map(str, a), f'--out_dir={out}', '--num_proc=1'], expect=None)  # noqa: E731
    assert prep(docs, '--tokenizer=char', '--val_fraction=0.2').returncode == 0
    before = {f: (out / f).read_bytes() for f in ('train.bin', 'val.bin', 'summary.json', 'meta.pkl')}
    p = prep(more, '--tokenizer=char', '--append')
    assert p.returncode == 2 and p.stderr.strip() == (
        f"error: {out} was made with --val_fraction=0.2, not 0.01: appending must use the same split; pass "
        f"--val_fraction=0.2, or --overwrite to remake it all")
    p = prep(more, '--tokenizer=char', '--append', '--val_fraction=0.2', '--drop_empty_lines')
    assert p.returncode == 2 and p.stderr.strip() == (
        f"error: {out} was made without --drop_empty_lines: appending must treat empty lines the same way; "
        f"append without --drop_empty_lines, or --overwrite to remake it all")
    assert {f: (out / f).read_bytes() for f in before} == before  # nothing changed
    assert prep(more, '--tokenizer=char', '--append', '--val_fraction=0.2').returncode == 0


def test_missing_dataset_hints(tmp_path, monkeypatch, capsys):
    from nanogpt.dataset import dataset_dir
    for name, made in (('shakespeare_char', 'train.bin'), ('tang_poems', 'prepare.py'), ('corpus', None)):
        (tmp_path / 'data' / name).mkdir(parents=True)
        if made:
            (tmp_path / 'data' / name / made).write_text('')
    monkeypatch.chdir(tmp_path)

    def error(name):
        with bad_input() as e:
            dataset_dir(name)
        assert e.value.code == 2
        return capsys.readouterr().err.strip()
    assert error('shakespeare-char') == (
        "error: no data/shakespeare-char/train.bin: did you mean --dataset=shakespeare_char? Or, to make it from "
        "your own text files: python data/prepare_local.py FILES --out_dir=data/shakespeare-char")
    assert error('corpB') == ("error: no data/corpB/train.bin: to make it from your own text files: "
                              "python data/prepare_local.py FILES --out_dir=data/corpB")
    assert error('tang_poems') == "error: no data/tang_poems/train.bin: prepare the dataset first with python data/tang_poems/prepare.py"


@pytest.mark.parametrize('script_name,device,message', [
    ('train.py', 'cpus', "error: device='cpus' is not a device: use cpu, cuda, cuda:N (a GPU's index) or mps"),
    ('eval.py', 'cpus', "error: device='cpus' is not a device: use cpu, cuda, cuda:N (a GPU's index) or mps"),
    ('sample.py', 'cuda', "error: device='cuda' but torch sees no CUDA GPU; run on the CPU with --device=cpu --compile=False"),
    ('bench.py', 'cuda', "error: device='cuda' but torch sees no CUDA GPU; run on the CPU with --device=cpu --compile=False"),
], ids=['device_not_a_device', 'device_not_a_device_eval', 'cuda_without_gpu', 'cuda_without_gpu_bench'])
def test_device_errors(tmp_path, script_name, device, message):
    if device == 'cuda' and torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    p = run([os.path.join(ROOT, script_name), f'--device={device}'], expect=2, cwd=str(tmp_path))
    assert p.stderr.strip() == message
    assert os.listdir(tmp_path) == []  # nothing written


def test_wandb_without_a_key_logs_offline(finished, tmp_path):
    root, _ = finished
    home = tmp_path / 'home'
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('WANDB_API_KEY', 'WANDB_MODE')}
    env.update(HOME=str(home), WANDB_DIR=str(tmp_path), NETRC=str(home / '.netrc'))
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'train.py')] + TINY + [
        '--dataset=a', '--max_iters=1', f'--out_dir={tmp_path}/out', '--wandb_log=True'],
        cwd=str(root), env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "warning: wandb_log=True but no W&B API key is set up (WANDB_API_KEY or `wandb login`): logging offline" in p.stderr
    assert "`wandb sync wandb/offline-run-*`" in p.stderr and 'Traceback' not in p.stderr
    assert p.stderr.index('no W&B API key') < p.stdout.index('Initializing a new model') + len(p.stderr)  # before the model
    assert any(d.startswith('offline-run-') for d in os.listdir(tmp_path / 'wandb'))


def test_wandb_malformed_key_is_one_line(monkeypatch, capsys):
    from nanogpt.runlog import wandb_offline_unless_key
    monkeypatch.delenv('WANDB_MODE', raising=False)
    monkeypatch.setenv('WANDB_API_KEY', 'short')
    with bad_input() as e:
        wandb_offline_unless_key()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: wandb: WANDB_API_KEY invalid') and err.endswith(
        'fix WANDB_API_KEY (or run `wandb login`), or pass --wandb_log=False') and '\n' not in err


def test_docs_list_these_errors():
    doc = open(os.path.join(ROOT, 'docs', 'errors.md')).read()
    for name in ('test_resume_with_nothing_left_to_train', 'test_missing_dataset_hints', 'device_not_a_device',
                 'cuda_without_gpu', 'test_append_with_other_options_is_refused', 'test_wandb_malformed_key_is_one_line',
                 'test_wandb_without_a_key_logs_offline', 'test_auto_restart_of_a_finished_run_exits_0'):
        assert f'`{name}`' in doc, name
