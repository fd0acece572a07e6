"""Issue 10: files from elsewhere never run code, our checkpoints load in nanoGPT, one writer per folder,
a full disk is the documented error, and every bad input is one line. Most scripts run in this process
(run_script), as `python SCRIPT ARGS` would run them; the concurrent and full-disk cases run real processes."""
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from harness import ROOT, SHARED, TINY, popen, run, train_args, train_cmd
from model import GPT, GPTConfig
from nanogpt import lock


def run_script(script, *args, cwd=ROOT):
    """(exit code, stdout + stderr) of a script run as a user would (in this process where the harness can)."""
    r = run([os.path.join(ROOT, script), *args], expect=None, cwd=cwd)
    return r.returncode, r.out


def check(cmd, expect=0):
    r = run(cmd, expect=expect)
    return r.returncode, r.out


def one_error(code, out, message):
    """Exit 2 with exactly one error line, matching message, and no traceback."""
    errors = [line for line in out.splitlines() if 'error: ' in line]
    assert code == 2, out[-3000:]
    assert len(errors) == 1 and message in errors[0], out[-3000:]
    assert errors[0].startswith('error: '), errors  # a line of its own, not glued onto a progress bar
    assert 'Traceback' not in out, out[-3000:]


@pytest.fixture(scope='module')
def trained(shakespeare_char, tmp_path_factory):
    """A tiny checkpoint written by our train.py (block_size 32, 1 layer, vocab 65), with its log."""
    out = str(tmp_path_factory.mktemp('trained'))
    run(train_args(f'--out_dir={out}', '--max_iters=5'))
    return out


def copy_run(trained, tmp_path, name='out'):
    out = tmp_path / name
    shutil.copytree(trained, out)
    return str(out)


# -----------------------------------------------------------------------------
# 1. nothing loaded from a file runs code

class Payload:
    """Unpickling this runs `touch MARKER`: what an attacker's ckpt.pt or meta.pkl would do."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize('how', ['train_resume', 'train_auto', 'sample', 'eval'])
def test_crafted_checkpoint_runs_no_code(trained, tmp_path, how):
    out = copy_run(trained, tmp_path)
    marker = tmp_path / 'pwned'
    c = torch.load(os.path.join(out, 'ckpt.pt'))
    c['wandb_run_id'] = Payload(marker)
    torch.save(c, os.path.join(out, 'ckpt.pt'))
    script, args = {'train_resume': ('train.py', TINY + ['--init_from=resume']),
                    'train_auto': ('train.py', TINY + ['--init_from=auto']),
                    'sample': ('sample.py', ['--device=cpu', '--max_new_tokens=5']),
                    'eval': ('eval.py', ['--device=cpu'])}[how]
    code, log = run_script(script, f'--out_dir={out}', *args)
    one_error(code, log, "ckpt.pt was not loaded: it holds posix.system that only code could rebuild")
    assert not marker.exists()


def evil_dataset(tmp_path, meta):
    """data/evil in a scratch working folder: shakespeare_char's .bin files with the given meta.pkl bytes
    and no summary.json (so that even count_tokens must read meta.pkl for the dtype)."""
    d = tmp_path / 'data' / 'evil'
    d.mkdir(parents=True)
    for split in ('train', 'val'):
        shutil.copy(os.path.join(ROOT, 'data', 'shakespeare_char', f'{split}.bin'), d / f'{split}.bin')
    (d / 'meta.pkl').write_bytes(meta)
    return d


@pytest.mark.parametrize('script', ['train.py', 'sample.py', 'eval.py', 'data/count_tokens.py'])
def test_crafted_meta_runs_no_code(trained, tmp_path, script):
    marker = tmp_path / 'pwned'
    good = pickle.load(open(os.path.join(ROOT, 'data', 'shakespeare_char', 'meta.pkl'), 'rb'))
    d = evil_dataset(tmp_path, pickle.dumps(dict(good, dtype=Payload(marker))))
    args = {'train.py': TINY + ['--dataset=evil', f'--out_dir={tmp_path / "new"}'],
            'sample.py': [f'--out_dir={trained}', '--dataset=evil', '--device=cpu', '--max_new_tokens=5'],
            'eval.py': [f'--out_dir={copy_run(trained, tmp_path)}', '--dataset=evil', '--device=cpu'],
            'data/count_tokens.py': [str(d)]}[script]
    code, log = run_script(script, *args, cwd=str(tmp_path))
    one_error(code, log, "meta.pkl was not loaded: it refers to posix.system")
    assert not marker.exists()


def test_checkpoint_dataset_stays_inside_data(trained, tmp_path):
    """A checkpoint naming an absolute dataset path must not make sample.py/eval.py read a meta.pkl elsewhere."""
    out = copy_run(trained, tmp_path)
    c = torch.load(os.path.join(out, 'ckpt.pt'))
    c['config']['dataset'] = os.path.join(ROOT, 'data', 'shakespeare_char')  # absolute: anywhere on disk
    torch.save(c, os.path.join(out, 'ckpt.pt'))
    for script, extra in (('sample.py', ['--max_new_tokens=5']), ('eval.py', [])):
        code, log = run_script(script, f'--out_dir={out}', '--device=cpu', *extra)
        one_error(code, log, "which is not a folder inside data/; pass the dataset yourself with --dataset=NAME")


# -----------------------------------------------------------------------------
# 2. nanoGPT loads our checkpoints as it loads its own

def test_nanogpt_loads_our_checkpoint(trained):
    """nanoGPT's sample.py/train.py resume, verbatim in substance: torch.load with torch's defaults
    (weights_only=True since torch 2.6), strip '_orig_mod.', load_state_dict into a GPT of model_args."""
    checkpoint = torch.load(os.path.join(trained, 'ckpt.pt'), map_location='cpu')
    checkpoint = torch.load(os.path.join(trained, 'ckpt.pt'), map_location='cpu', weights_only=True)  # the same, said
    model = GPT(GPTConfig(**checkpoint['model_args']))
    state_dict = checkpoint['model']
    unwanted_prefix = '_orig_mod.'
    for k, v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
    model.load_state_dict(state_dict)
    assert checkpoint['iter_num'] == 6 and checkpoint['best_val_loss'] < 5
    assert checkpoint['config']['dataset'] == 'shakespeare_char' and 'state' in checkpoint['optimizer']


def test_old_checkpoint_with_numpy_rng_resumes(trained, tmp_path):
    """Checkpoints written before the random states were tensors hold numpy's array: they still resume,
    with their random state restored (not reseeded)."""
    out = copy_run(trained, tmp_path)
    c = torch.load(os.path.join(out, 'ckpt.pt'))
    for state in c['rng']:
        name, keys, pos, has_gauss, gauss = state['numpy']
        state['numpy'] = (name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss)  # the old format
    torch.save(c, os.path.join(out, 'ckpt.pt'))
    with pytest.raises(pickle.UnpicklingError):  # really the old format: torch's defaults refuse it
        torch.load(os.path.join(out, 'ckpt.pt'))
    code, log = run_script('train.py', *TINY, f'--out_dir={out}', '--init_from=resume', '--max_iters=7')
    assert code == 0, log[-3000:]
    assert 'Resuming training from' in log and 'iter 7: loss' in log and 'reseeded' not in log
    assert torch.load(os.path.join(out, 'ckpt.pt'))['iter_num'] == 8  # rewritten in the new format


# -----------------------------------------------------------------------------
# 3. one writer per folder

def wait_for_lock(folder, pid, timeout=120):
    """Until process pid holds folder's lock (its pid is in the lock file, written once the lock is held)."""
    path = os.path.join(folder, lock.LOCK_NAME)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(path) and open(path).read().startswith(f"{pid},"):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took {path}")


def chapters(tmp_path, n=400):
    """tiny shakespeare as n .jsonl documents."""
    text = open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt')).read()
    step = len(text) // n
    path = tmp_path / 'chapters.jsonl'
    path.write_text(''.join(json.dumps({'text': text[i * step:(i + 1) * step]}) + '\n' for i in range(n)))
    return str(path)


def test_two_prepares_into_one_folder(tmp_path):
    """The second prepare_local is refused while the first runs (it is frozen holding the lock, so the two
    surely overlap); the first finishes a dataset that count_tokens --verify accepts, with every document once."""
    src, out = chapters(tmp_path), str(tmp_path / 'ds')
    cmd = [sys.executable, 'data/prepare_local.py', src, f'--out_dir={out}', '--tokenizer=char', '--num_proc=1']
    first = popen(cmd)
    try:
        wait_for_lock(out, first.pid)
        first.send_signal(signal.SIGSTOP)
        code, log = check(cmd + ['--overwrite'], expect=None)
        one_error(code, log, f"{out} is in use by another process (pid {first.pid}, prepare_local.py)")
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(300) == 0, first.stdout.read()[-3000:]
    summary = json.load(open(os.path.join(out, 'summary.json')))
    n_chars = 400 * (1115394 // 400)  # chapters() drops the last few characters
    assert summary['documents'] == 400 and summary['train_tokens'] + summary['val_tokens'] == n_chars + 400
    check([sys.executable, 'data/count_tokens.py', out, '--verify'])


def test_two_trainings_on_one_out_dir(trained, tmp_path):
    """A second train.py (auto) on a live run's out_dir is refused before it touches anything, the live run's
    temporary checkpoint included; the first run finishes unharmed, with one log in order."""
    out = str(tmp_path / 'out')
    first = popen(train_cmd(f'--out_dir={out}', '--max_iters=15'))
    try:
        wait_for_lock(out, first.pid)
        first.send_signal(signal.SIGSTOP)
        live_tmp = os.path.join(out, f'ckpt.pt.tmp.{first.pid}')  # as if it were writing its checkpoint now
        open(live_tmp, 'wb').close()
        # in this process, which holds no lock: flock excludes any other open of the lock file
        # (eval.py on a live run reads it and writes nothing there: tests/test_held_out.py)
        for script, args in (('train.py', TINY + ['--init_from=auto']), ('train.py', TINY + ['--eval_only=True'])):
            code, log = run_script(script, f'--out_dir={out}', *args)
            one_error(code, log, f"{out} is in use by another process (pid {first.pid}, train.py)")
            assert os.path.exists(live_tmp)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(300) == 0, first.stdout.read()[-3000:]
    assert torch.load(os.path.join(out, 'ckpt.pt'))['iter_num'] == 16
    rows = [json.loads(line) for line in open(os.path.join(out, 'log.jsonl'))]
    iters = [r['iter'] for r in rows if r['kind'] == 'train']
    assert iters == list(range(16)) and [r['kind'] for r in rows].count('config') == 1


def test_lock_is_released_when_its_holder_dies(tmp_path):
    """A killed holder leaves no stale lock: the kernel drops it with the process."""
    folder = str(tmp_path / 'f')
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; from nanogpt.lock import hold; '
                               'hold(sys.argv[1], "test"); time.sleep(600)', folder], cwd=ROOT)
    wait_for_lock(folder, holder.pid)
    holder.kill()
    holder.wait()
    lock.hold(folder, 'test')  # no error
    lock.release(folder)


@pytest.mark.parametrize('init_from', ['resume', 'scratch'])
def test_eval_only_appends_to_the_log(trained, tmp_path, init_from):
    out = copy_run(trained, tmp_path)
    before = open(os.path.join(out, 'log.jsonl'), 'rb').read()
    code, log = run_script('train.py', *TINY, f'--out_dir={out}', '--eval_only=True', f'--init_from={init_from}')
    assert code == 0, log[-3000:]
    after = open(os.path.join(out, 'log.jsonl'), 'rb').read()
    assert after.startswith(before) and after[len(before):].count(b'\n') == 1  # one row appended, none lost
    assert json.loads(after[len(before):])['kind'] == 'eval'
    assert sorted(os.listdir(out)) == ['.lock', 'ckpt.pt', 'log.jsonl']  # nothing moved aside


# -----------------------------------------------------------------------------
# 4. a full disk: a small tmpfs (we are root here), else the tests say why they skip

@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / 'disk'
    mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield str(mnt)
    subprocess.run(['umount', '-l', str(mnt)])


def fill(disk):
    """Leave no free byte on disk."""
    with open(os.path.join(disk, 'filler'), 'wb', buffering=0) as f:
        try:
            while True:
                f.write(b'\0' * 4096)
                f.flush()
        except OSError:
            pass


def test_full_disk_during_training(shakespeare_char, small_disk):
    """The disk fills up mid-run: the log rows that no longer fit are a warning, the run goes on to its
    checkpoint, which fails with the documented error (exit 2); the last good checkpoint stays whole and resumes."""
    out = os.path.join(small_disk, 'out')
    proc = popen(train_cmd(f'--out_dir={out}', '--max_iters=40'))
    ckpt = os.path.join(out, 'ckpt.pt')
    while not os.path.exists(ckpt) and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(0.5)  # a save that was under way when it stopped is not visible yet: let it be (it is stopped)
    good = torch.load(ckpt)
    log_path = os.path.join(out, 'log.jsonl')  # a tmpfs file grows by pages: fill the log's last one with a row
    slack = -os.path.getsize(log_path) % 4096
    with open(log_path, 'a') as f:
        f.write(json.dumps({'kind': 'padding', 'x': 'x' * (slack - 29)}) + '\n' if slack >= 29 else '')
    fill(small_disk)
    proc.send_signal(signal.SIGCONT)
    code, log = proc.wait(300), proc.stdout.read()
    one_error(code, log, f"could not write a checkpoint to {out} (No space left on device); the previous ckpt.pt is intact")
    assert 'warning: could not append to' in log
    assert torch.load(ckpt)['iter_num'] == good['iter_num']
    assert [f for f in os.listdir(out) if '.tmp' in f] == []
    os.remove(os.path.join(small_disk, 'filler'))
    code, log = run_script('train.py', *TINY, f'--out_dir={out}', '--init_from=resume', f"--max_iters={good['iter_num']}")
    assert code == 0 and f"iter {good['iter_num']}: loss" in log, log[-3000:]


def digest(folder):
    return {f: hashlib.sha256(open(os.path.join(folder, f), 'rb').read()).hexdigest()
            for f in sorted(os.listdir(folder)) if not f.startswith('.')}


def test_full_disk_during_prepare(shakespeare_char, tmp_path, small_disk):
    """prepare_local (then merge_bins) runs out of space: one documented line (after the progress bar's line), exit 2, and the
    dataset that was there keeps its bytes."""
    out = os.path.join(small_disk, 'ds')
    small = tmp_path / 'small.jsonl'
    small.write_text(''.join(json.dumps({'text': f'document {i}'}) + '\n' for i in range(50)))
    cmd = [sys.executable, 'data/prepare_local.py', f'--out_dir={out}', '--tokenizer=char', '--num_proc=1',
           '--val_fraction=0.3']
    check(cmd + [str(small)])
    before = digest(out)
    code, log = check(cmd + [chapters(tmp_path), '--overwrite'], expect=None)  # 2.2 MB of tokens, 2 MB disk
    one_error(code, log, f"could not write to {out} (No space left on device); the dataset there is as it was")
    assert digest(out) == before
    code, log = check([sys.executable, 'data/merge_bins.py', os.path.join(ROOT, 'data', 'shakespeare_char'),
                       f'--out_dir={out}', '--overwrite'], expect=None)  # 2.2 MB again
    one_error(code, log, f"could not write to {out} (No space left on device); the dataset there is as it was")
    assert digest(out) == before


# -----------------------------------------------------------------------------
# 5. bad inputs: one line naming the problem and the fix, exit 2

TRAIN_ROWS = [
    ('batch_size_zero', ['--batch_size=0'], "batch_size=0 must be 1 or more; pass --batch_size=1 or more"),
    ('eval_interval_zero', ['--eval_interval=0'], "eval_interval=0 must be 1 or more"),
    ('log_interval_zero', ['--log_interval=0'], "log_interval=0 must be 1 or more"),
    ('accumulation_zero', ['--gradient_accumulation_steps=0'], "gradient_accumulation_steps=0 must be 1 or more"),
    ('block_size_zero', ['--block_size=0'], "block_size=0 must be 1 or more"),
    ('eval_iters_zero', ['--eval_iters=0'], "eval_iters=0 must be 1 or more"),
    ('max_iters_negative', ['--max_iters=-1'], "max_iters=-1 would train nothing; pass --max_iters=0 or more"),
    ('device_not_a_device', ['--device=cpus'], "device='cpus' is not a device: use cpu, cuda, cuda:N"),
    ('device_mps_missing', ['--device=mps'], "device='mps' but this machine has no Apple GPU (MPS)"),
    ('device_cuda_missing', ['--device=cuda'], "device='cuda' but torch sees no CUDA GPU"),
    ('config_file_raises', ['CONFIG'], "raised ZeroDivisionError at line 2: division by zero; fix the file"),
    ('meta_without_vocab_size', ['--dataset=novocab'], "meta.pkl has no vocab_size; it is not a dataset's meta.pkl"),
    ('meta_itos_incomplete', ['--dataset=shortitos'], "its itos does not name exactly the ids 0..64"),
    ('resume_with_default_n_layer', ['--init_from=resume', '--n_layer=12'],
     "the checkpoint's model has n_layer=1 but --n_layer=12 was asked for"),
]


@pytest.mark.parametrize('name,args,message', TRAIN_ROWS, ids=[r[0] for r in TRAIN_ROWS])
def test_bad_train_input(trained, tmp_path, name, args, message):
    if name == 'device_cuda_missing' and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = copy_run(trained, tmp_path) if name.startswith('resume') else str(tmp_path / 'out')
    good = pickle.load(open(os.path.join(ROOT, 'data', 'shakespeare_char', 'meta.pkl'), 'rb'))
    if name == 'meta_without_vocab_size':
        evil_dataset(tmp_path, pickle.dumps({'itos': good['itos']})).rename(tmp_path / 'data' / 'novocab')
    if name == 'meta_itos_incomplete':
        short = {i: c for i, c in good['itos'].items() if i < 60}
        evil_dataset(tmp_path, pickle.dumps(dict(good, itos=short))).rename(tmp_path / 'data' / 'shortitos')
    if args == ['CONFIG']:
        (tmp_path / 'config.py').write_text("batch_size = 4\nlearning_rate = 1 / 0\n")
        args = [str(tmp_path / 'config.py')]
    before = open(os.path.join(out, 'ckpt.pt'), 'rb').read() if os.path.exists(os.path.join(out, 'ckpt.pt')) else None
    cwd = str(tmp_path) if name.startswith('meta') else ROOT
    code, log = run_script('train.py', *TINY, f'--out_dir={out}', '--max_iters=2', *args, cwd=cwd)
    one_error(code, log, message)
    if before is not None:
        assert open(os.path.join(out, 'ckpt.pt'), 'rb').read() == before
    else:
        assert not os.path.exists(os.path.join(out, 'ckpt.pt'))


def test_resume_records_the_checkpoints_shape(trained, tmp_path):
    """Without --n_layer a resume keeps the checkpoint's shape, and the saved config says so (not the default 12)."""
    out = copy_run(trained, tmp_path)
    code, log = run_script('train.py', *[a for a in TINY if not a.startswith('--n_layer')], f'--out_dir={out}',
                           '--init_from=resume', '--max_iters=7')
    assert code == 0, log[-3000:]
    assert torch.load(os.path.join(out, 'ckpt.pt'))['config']['n_layer'] == 1


def test_float16_on_cpu_warns(shakespeare_char, tmp_path):
    code, log = run_script('train.py', *TINY, f'--out_dir={tmp_path / "out"}', '--dtype=float16', '--max_iters=0')
    assert code == 0, log[-3000:]
    assert "warning: dtype=float16 on a CPU computes in float32" in log


@pytest.mark.parametrize('script', ['sample.py', 'eval.py'])
def test_cuda_without_cuda(trained, script):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, log = run_script(script, f'--out_dir={trained}', '--device=cuda')
    one_error(code, log, "device='cuda' but torch sees no CUDA GPU; run on the CPU with --device=cpu")


def test_sample_gpt2_offline(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)  # read once, when imported
    code, log = run_script('sample.py', '--init_from=gpt2', '--device=cpu')
    one_error(code, log, "could not load GPT-2 weights 'gpt2' (")
    assert "pass that folder as --init_from" in log


def test_eval_meta_vocabulary_too_small(trained, tmp_path):
    """A char dataset whose meta.pkl has fewer ids than the model: bits per byte would be measured wrong."""
    good = pickle.load(open(os.path.join(ROOT, 'data', 'shakespeare_char', 'meta.pkl'), 'rb'))
    itos = {i: c for i, c in good['itos'].items() if i < 10}
    evil_dataset(tmp_path, pickle.dumps({'vocab_size': 10, 'itos': itos, 'stoi': {c: i for i, c in itos.items()}}))
    code, log = run_script('eval.py', f'--out_dir={copy_run(trained, tmp_path)}', '--dataset=evil', '--device=cpu',
                           cwd=str(tmp_path))
    one_error(code, log, "data/evil is character-level with 10 ids but the model has 65")


def test_prepare_single_document_says_so_early(tmp_path):
    """One big document cannot be split into train and val: said before tokenizing it (nothing written)."""
    big = tmp_path / 'one.txt'
    big.write_text(open(os.path.join(SHARED, 'tinyshakespeare', 'input.txt')).read() * 3)
    out = str(tmp_path / 'ds')
    code, log = run_script('data/prepare_local.py', str(big), f'--out_dir={out}')
    one_error(code, log, "no document went to val: the split is by document (hash rule, 0.01) and there are only 1;")
    assert 'prepare:' not in log  # the tokenizing progress bar never started
    assert not os.path.exists(os.path.join(out, 'train.bin'))


def test_prepare_error_gets_its_own_line(tmp_path):
    """An input error found while the progress bar is on screen starts a line of its own."""
    src = tmp_path / 'docs.jsonl'
    src.write_text(json.dumps({'text': 'a' * 1000}) + '\n' + json.dumps({'text': 'b'}) + '\n{not json\n')
    code, log = check([sys.executable, 'data/prepare_local.py', str(src), f'--out_dir={tmp_path / "ds"}',
                       '--num_proc=1', '--shard_mb=0.0001'], expect=None)
    one_error(code, log, "is not JSON")


def test_sigterm_during_first_evaluation(shakespeare_char, tmp_path):
    """SIGTERM while the first evaluation runs (here: one that would take minutes) stops the run at once,
    exit 0; nothing trained since the start, so nothing is checkpointed."""
    out = str(tmp_path / 'out')
    p = popen(train_cmd(f'--out_dir={out}', '--eval_iters=200000'))
    try:
        for line in p.stdout:
            if line.startswith('run log:'):  # the evaluation at iter 0 comes next
                break
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        code = p.wait(60)
    finally:
        p.kill()
    log = p.stdout.read()
    assert code == 0, log[-3000:]
    assert 'SIGTERM received' in log and not os.path.exists(os.path.join(out, 'ckpt.pt'))


def test_docs_list_every_row():
    """docs/errors.md names every bad input tested here: each row of TRAIN_ROWS and each test of this file
    (but those of the machinery itself)."""
    doc = open(os.path.join(ROOT, 'docs', 'errors.md')).read()
    machinery = {'test_lock_is_released_when_its_holder_dies', 'test_eval_only_appends_to_the_log',
                 'test_prepare_error_gets_its_own_line', 'test_bad_train_input', 'test_docs_list_every_row'}
    tests = [name for name in globals() if name.startswith('test_') and name not in machinery]
    for name in [row[0] for row in TRAIN_ROWS] + tests:
        assert f'`{name}`' in doc, name
