"""SIGKILL at random moments, a dozen times, some of them while a checkpoint is being written: the
checkpoint left behind always loads, never goes backwards, and the run always resumes from it."""
import glob
import os
import random
import re
import signal
import time

from nanogpt.checkpoint import kept_checkpoints, load_checkpoint
from harness import popen, run, train_args, train_cmd

KILLS = 10
MAX_ITERS = 100000  # never reached while killing; the last run stops a few iterations further


def mtime(out):
    try:
        return os.stat(os.path.join(out, 'ckpt.pt')).st_mtime_ns
    except FileNotFoundError:
        return None


def test_sigkill_anywhere_leaves_a_loadable_checkpoint(shakespeare_char, tmp_path):
    out = str(tmp_path / 'out')
    # a checkpoint every iteration, of a model big enough that writing it takes a while, keeping the last 2
    args = [f'--out_dir={out}', f'--max_iters={MAX_ITERS}', '--init_from=auto', '--eval_interval=1',
            '--eval_iters=1', '--n_layer=2', '--n_embd=64', '--keep_checkpoints=2']
    rng = random.Random(0)
    last_iter, mid_write = -1, 0
    for k in range(KILLS):
        had_ckpt = os.path.exists(os.path.join(out, 'ckpt.pt'))
        p = popen(train_cmd(*args))
        if k % 2:  # after one more checkpoint, wait until the next write is under way and kill in its middle
            wrote = lambda: mtime(out) != before
            before, t0 = mtime(out), time.time()
            while not (wrote() and glob.glob(os.path.join(out, 'ckpt.pt.tmp.*'))) and time.time() - t0 < 60:
                time.sleep(0.0005)
        else:  # anywhere: during start-up, training, evaluation or saving
            time.sleep(rng.uniform(1.0, 4.0))
        p.send_signal(signal.SIGKILL)
        log = p.communicate()[0]
        assert p.returncode == -signal.SIGKILL, f"run {k} ended by itself before the kill:\n{log[-2000:]}"
        mid_write += bool(glob.glob(os.path.join(out, 'ckpt.pt.tmp.*')))
        if had_ckpt and 'tokens per iteration' in log:
            assert 'Resuming training from' in log, log[-2000:]
        if os.path.exists(os.path.join(out, 'ckpt.pt')):
            c = load_checkpoint(out)  # exits the test with its error if the file were torn
            assert c['iter_num'] >= last_iter, "the checkpoint went backwards: replaced by a fresh run"
            last_iter = c['iter_num']
        for kept in kept_checkpoints(out):
            load_checkpoint(kept)
    assert last_iter > 0 and mid_write >= 1, (last_iter, mid_write)
    # the last start resumes and finishes the run; the killed runs' temporary files are gone
    last_args = [a for a in args if not a.startswith('--max_iters')] + [f'--max_iters={last_iter + 3}']
    log = run(train_args(*last_args)).out
    m = re.search(r'Resuming training from', log)
    assert m, log[-2000:]
    assert load_checkpoint(out)['iter_num'] == last_iter + 4
    assert not glob.glob(os.path.join(out, '*.tmp*'))
    # the evaluation at max_iters saves nothing: the end-of-training save follows one step later
    assert [os.path.basename(p) for p in kept_checkpoints(out)] == [f'ckpt-{last_iter + 2:08d}.pt',
                                                                    f'ckpt-{last_iter + 4:08d}.pt']
    print(f"{KILLS} kills, {mid_write} in the middle of a checkpoint write, last checkpoint at iter {last_iter}")
