"""Exact resume, preemption and loss blow-ups: the real train.py, one process and two gloo processes."""
import os
import re
import signal
import time

import pytest

from harness import ckpt, popen, run, signal_rank, same_weights, torchrun_cmd, train_args, train_cmd

ITERS = 20


@pytest.fixture(scope='module')
def uninterrupted(shakespeare_char, tmp_path_factory):
    """(checkpoint, out_dir) of one uninterrupted run of ITERS iterations, per world size (made on demand)."""
    cache = {}

    def get(nproc):
        if nproc not in cache:
            out = str(tmp_path_factory.mktemp(f'full{nproc}'))
            cmd = train_args if nproc == 1 else (lambda *a: torchrun_cmd(nproc, *a))
            run(cmd(f'--out_dir={out}', f'--max_iters={ITERS}'))
            cache[nproc] = ckpt(out), out
        return cache[nproc]
    return get


@pytest.mark.parametrize('nproc', [1, 2])
def test_resume_is_exact(uninterrupted, tmp_path, nproc):
    """ITERS iterations in one go == ITERS/2, then init_from=auto resume to ITERS: torch.equal weights."""
    cmd = train_args if nproc == 1 else (lambda *a: torchrun_cmd(nproc, *a))
    out = str(tmp_path / 'out')
    run(cmd(f'--out_dir={out}', f'--max_iters={ITERS // 2}', '--init_from=auto'))
    half = ckpt(out)
    assert half['iter_num'] == ITERS // 2 + 1 and len(half['rng']) == nproc
    log = run(cmd(f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto')).out
    assert f"Resuming training from {out}" in log
    full, resumed = uninterrupted(nproc)[0], ckpt(out)
    assert resumed['iter_num'] == full['iter_num'] == ITERS + 1
    assert same_weights(full['model'], resumed['model'])
    assert resumed['best_val_loss'] == full['best_val_loss']
    if nproc > 1:
        return
    # and resuming a finished run trains nothing more and keeps the checkpoint as it is
    before = os.path.getmtime(os.path.join(out, 'ckpt.pt'))
    run(cmd(f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto'))
    assert os.path.getmtime(os.path.join(out, 'ckpt.pt')) == before


def wait_for_line(p, pattern, timeout=120):
    """Read p's output until a line matches; returns (match, text so far)."""
    seen, t0 = [], time.time()
    for line in p.stdout:
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m, ''.join(seen)
        assert time.time() - t0 < timeout, ''.join(seen)
    raise AssertionError(f"process ended before {pattern!r}:\n{''.join(seen)[-3000:]}")


def test_sigterm_checkpoints_and_resumes(uninterrupted, tmp_path):
    """SIGTERM mid-run: the step finishes, a checkpoint of that iteration, exit 0; the next start resumes
    from it and ends with the very weights of an uninterrupted run."""
    out = str(tmp_path / 'out')
    p = popen(train_cmd(f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto'))
    m, _ = wait_for_line(p, r'^iter 7:')  # past the checkpoint at iter 5, before the one at 10
    p.send_signal(signal.SIGTERM)
    rest = p.stdout.read()
    assert p.wait(60) == 0, rest
    m = re.search(r'saving checkpoint to \S+ at iter (\d+) \(stopped by a signal\)', rest)
    assert m, rest
    stopped_at = int(m.group(1))
    assert 7 < stopped_at < ITERS
    assert ckpt(out)['iter_num'] == stopped_at
    log = run(train_args(f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto')).out
    assert f"Resuming training from {out}" in log
    assert re.search(rf'^iter {stopped_at}:', log, re.M) and not re.search(rf'^iter {stopped_at - 1}:', log, re.M)
    assert same_weights(uninterrupted(1)[0]['model'], ckpt(out)['model'])


def test_sigterm_on_one_rank_stops_all(shakespeare_char, tmp_path):
    """SIGTERM to rank 1 only: both ranks agree to stop after the same step, rank 0 checkpoints, all exit 0."""
    out = str(tmp_path / 'out')
    p = popen(torchrun_cmd(2, f'--out_dir={out}', '--max_iters=400'))
    m, _ = wait_for_line(p, r'^iter 6:')
    signal_rank(p, 1, signal.SIGTERM)
    rest = p.stdout.read()
    assert p.wait(60) == 0, rest
    m = re.search(r'at iter (\d+) \(stopped by a signal\)', rest)
    assert m, rest
    assert ckpt(out)['iter_num'] == int(m.group(1)) < 400


def test_nan_on_one_rank_stops_every_rank(shakespeare_char, tmp_path):
    """A NaN loss on rank 1 at iter 8: both ranks stop before that update, non-zero exit, and the last
    checkpoint is the one of iter 5, before the NaN."""
    out = str(tmp_path / 'out')
    r = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}'), expect=None, env={'NANOGPT_FAULT': 'nan@8:1'})
    code, log = r.returncode, r.out
    assert code != 0
    assert 'error: non-finite loss on rank 1 at iter 8; every rank stopped before the update' in log
    assert 'exitcode: 3' in log  # the NaN exit code, not a crash
    assert not re.search(r'^iter 8:', log, re.M)  # no update logged for the bad step
    assert ckpt(out)['iter_num'] == 5 and 'at iter 8' not in ''.join(re.findall(r'saving checkpoint.*', log))


def test_nan_single_process_exit_code(shakespeare_char, tmp_path):
    out = str(tmp_path / 'out')
    log = run(train_cmd(f'--out_dir={out}', '--max_iters=20'), expect=3, env={'NANOGPT_FAULT': 'nan@3:0'}).out
    assert 'non-finite loss on rank 0 at iter 3' in log
    assert not os.path.exists(os.path.join(out, 'ckpt.pt'))  # nothing was worth saving yet


def test_eval_only_on_resume(uninterrupted, tmp_path):
    """eval_only on a resumed checkpoint evaluates at its iteration and leaves the checkpoint untouched."""
    out = uninterrupted(1)[1]
    before = open(os.path.join(out, 'ckpt.pt'), 'rb').read()
    log = run(train_args(f'--out_dir={out}', '--init_from=resume', '--eval_only=True')).out
    assert re.search(rf'^step {ITERS + 1}: train loss [\d.]+, val loss [\d.]+$', log, re.M), log
    assert not re.search(r'^iter ', log, re.M)
    assert open(os.path.join(out, 'ckpt.pt'), 'rb').read() == before


def test_nan_found_a_step_late_applies_no_update():
    """The host reads a step's flags only during the next step; by then the bad step's update and the next
    one have been asked for, and fused AdamW skipped both on the device: weights and optimizer state are
    those of the last good step."""
    import torch
    from nanogpt import stopping
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True)
    scaler = torch.amp.GradScaler('cpu', enabled=False)
    flags = stopping.Flags(1, 'cpu')
    x = torch.randn(8, 4)
    snapshots = []
    for it in range(4):
        loss = model(x).square().mean()
        loss = loss * float('nan') if it == 1 else loss  # step 1 is non-finite, steps 2 and 3 are fine again
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float('inf'))
        flags.update(loss.detach(), grad_norm, True, 0, it)
        stopping.optimizer_step(optimizer, scaler, flags.skip())
        optimizer.zero_grad(set_to_none=True)
        snapshots.append(({k: v.clone() for k, v in model.state_dict().items()},
                          [s['step'].item() for s in optimizer.state.values()]))
        late = flags.read(late=True)
        assert late is None or late.bad_ranks == ([0] if it >= 2 else [])
    assert flags.read(late=False) == stopping.Agreed([0], True, False, 1)  # the first bad step, frozen
    for weights, steps in snapshots[1:]:
        assert same_weights(weights, snapshots[0][0]) and steps == snapshots[0][1] == [1.0, 1.0]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_between_log_lines_is_found_one_step_late(shakespeare_char, tmp_path):
    """log_interval=5: the NaN at iter 8 is read during iter 9, reported as iter 8, exit 3, last checkpoint 5."""
    out = str(tmp_path / 'out')
    log = run(train_cmd(f'--out_dir={out}', f'--max_iters={ITERS}', '--log_interval=5'), expect=3,
              env={'NANOGPT_FAULT': 'nan@8:0'}).out
    assert 'error: non-finite loss on rank 0 at iter 8; every rank stopped before the update' in log
    assert ckpt(out)['iter_num'] == 5 and not re.search(r'^iter 10:', log, re.M)
