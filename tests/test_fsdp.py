"""FSDP2 (--fsdp=True) with 2 gloo ranks: the same losses and weights as DDP, exact resume, checkpoints that
move between FSDP, DDP and one process, SIGTERM, and sharded checkpoints that resume on another number of ranks."""
import os
import re
import shutil
import signal

import pytest

from harness import bad_input, ckpt, popen, run, signal_rank, same_weights, torchrun_cmd, train_args
from test_reliability import wait_for_line

ITERS = 20
FSDP = '--fsdp=True'


def losses(log):
    return {int(i): float(x) for i, x in re.findall(r'^iter (\d+): loss ([\d.]+)', log, re.M)}


def close(a, b, tol=1e-5):
    """Largest difference of two state dicts of tensors (or of their optimizer 'state' entries)."""
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= tol, worst
    return worst


def optimizer_close(a, b):
    assert a['param_groups'] == b['param_groups']
    assert a['state'].keys() == b['state'].keys()
    return max(close(a['state'][i], b['state'][i]) for i in a['state'])


@pytest.fixture(scope='module')
def runs(shakespeare_char, tmp_path_factory):
    """(out_dir, log) of a run, by (parallelism, iterations), made once on demand; a 'half' run stops at ITERS/2."""
    cache = {}

    def get(kind, iters):
        if (kind, iters) not in cache:
            out = str(tmp_path_factory.mktemp(f'{kind}{iters}'))
            fsdp = [FSDP] if kind == 'fsdp' else []
            log = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={iters}', *fsdp)).out
            cache[kind, iters] = out, log
        return cache[kind, iters]
    return get


def resumed_copy(src, tmp_path):
    out = str(tmp_path / 'out')
    shutil.copytree(src, out)
    return out


def test_fsdp_matches_ddp(runs):
    """Same seed: the same loss at every one of ITERS iterations, weights and AdamW state within 1e-5 (fp32),
    with gradient clipping at 1.0 (so the clipped norm over the shards is DDP's); checkpoints in the same format
    with lm_head tied to wte."""
    (fsdp_out, fsdp_log), (ddp_out, ddp_log) = runs('fsdp', ITERS), runs('ddp', ITERS)
    lf, ld = losses(fsdp_log), losses(ddp_log)
    assert sorted(lf) == list(range(ITERS + 1))
    assert all(abs(lf[i] - ld[i]) <= 1e-4 for i in ld), (lf, ld)  # printed with 4 decimals
    f, d = ckpt(fsdp_out), ckpt(ddp_out)
    assert list(f) == list(d) and list(f['model']) == list(d['model'])
    close(f['model'], d['model'])
    optimizer_close(f['optimizer'], d['optimizer'])
    assert f['model']['lm_head.weight'] is f['model']['transformer.wte.weight']


def test_fsdp_resume_is_exact(runs, tmp_path):
    """FSDP: ITERS/2, then --init_from=auto to ITERS, ends with bitwise the weights of ITERS in one go."""
    out = resumed_copy(runs('fsdp', ITERS // 2)[0], tmp_path)
    log = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto', FSDP)).out
    assert f"Resuming training from {out}" in log and min(losses(log)) == ITERS // 2 + 1
    assert same_weights(ckpt(out)['model'], ckpt(runs('fsdp', ITERS)[0])['model'])


@pytest.mark.parametrize('src,dst', [('fsdp', 'ddp'), ('ddp', 'fsdp')])
def test_checkpoint_moves_between_fsdp_and_ddp(runs, tmp_path, src, dst):
    """An FSDP checkpoint resumed by DDP, and a DDP one by FSDP: within 1e-5 of the uninterrupted DDP run."""
    out = resumed_copy(runs(src, ITERS // 2)[0], tmp_path)
    run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=resume',
                       *([FSDP] if dst == 'fsdp' else [])))
    full, resumed = ckpt(runs('ddp', ITERS)[0]), ckpt(out)
    assert resumed['iter_num'] == ITERS + 1
    close(resumed['model'], full['model'])
    optimizer_close(resumed['optimizer'], full['optimizer'])


def test_fsdp_checkpoint_resumes_in_one_process(runs, tmp_path):
    """One process (2 micro-steps, the same data as 2 ranks with 1) resumes an FSDP checkpoint; without dropout
    it ends within 1e-5 of DDP resuming the same checkpoint."""
    half = runs('fsdp', ITERS // 2)[0]
    one, two = resumed_copy(half, tmp_path / 'one'), resumed_copy(half, tmp_path / 'two')
    run(train_args(f'--out_dir={one}', f'--max_iters={ITERS}', '--init_from=resume', '--dropout=0.0'))
    run(torchrun_cmd(2, f'--out_dir={two}', f'--max_iters={ITERS}', '--init_from=resume', '--dropout=0.0'))
    a, b = ckpt(one), ckpt(two)
    assert a['iter_num'] == b['iter_num'] == ITERS + 1
    close(a['model'], b['model'])
    optimizer_close(a['optimizer'], b['optimizer'])


def test_sigterm_on_one_rank_of_fsdp(runs, tmp_path):
    """SIGTERM to rank 1 of an FSDP run: both stop after the same step, rank 0 checkpoints, exit 0; the restart
    resumes and ends with bitwise the weights of the uninterrupted FSDP run."""
    out = str(tmp_path / 'out')
    p = popen(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto', FSDP))
    wait_for_line(p, r'^iter 7:')
    signal_rank(p, 1, signal.SIGTERM)
    rest = p.stdout.read()
    assert p.wait(60) == 0, rest
    m = re.search(r'at iter (\d+) \(stopped by a signal\)', rest)
    assert m, rest
    stopped = int(m.group(1))
    assert 7 < stopped < ITERS and ckpt(out)['iter_num'] == stopped
    log = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto', FSDP)).out
    assert min(losses(log)) == stopped
    assert same_weights(ckpt(out)['model'], ckpt(runs('fsdp', ITERS)[0])['model'])


def test_nan_on_one_rank_of_fsdp(shakespeare_char, tmp_path):
    """A NaN loss on rank 1 at iter 8: every rank stops before the update, exit 3, the checkpoint of iter 5 kept."""
    out = str(tmp_path / 'out')
    r = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', FSDP), expect=None,
            env={'NANOGPT_FAULT': 'nan@8:1'})
    code, log = r.returncode, r.out
    assert code != 0 and 'exitcode: 3' in log
    assert 'error: non-finite loss on rank 1 at iter 8; every rank stopped before the update' in log
    assert not re.search(r'^iter 8:', log, re.M) and ckpt(out)['iter_num'] == 5


def test_sharded_checkpoint(runs, tmp_path):
    """--sharded_checkpoint=True: each rank writes its shards into out_dir/ckpt.dcp (no ckpt.pt); 2 FSDP ranks
    resume it exactly, and one process resumes it too (DCP reshards)."""
    out = str(tmp_path / 'out')
    run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS // 2}', FSDP, '--sharded_checkpoint=True'))
    assert not os.path.exists(os.path.join(out, 'ckpt.pt'))
    assert os.path.islink(os.path.join(out, 'ckpt.dcp'))
    assert sorted(f for f in os.listdir(out) if f != '.lock') == ['ckpt.dcp', f'ckpt.dcp-{ITERS // 2 + 1:08d}', 'log.jsonl']  # older removed
    one = resumed_copy(out, tmp_path / 'one')
    # resumed by 2 FSDP ranks, writing a full ckpt.pt at the end to compare
    log = run(torchrun_cmd(2, f'--out_dir={out}', f'--max_iters={ITERS}', '--init_from=auto', FSDP)).out
    assert min(losses(log)) == ITERS // 2 + 1
    assert same_weights(ckpt(out)['model'], ckpt(runs('fsdp', ITERS)[0])['model'])
    # resumed by one process (another number of ranks), a few iterations
    log = run(train_args(f'--out_dir={one}', f'--max_iters={ITERS // 2 + 2}', '--init_from=auto')).out
    assert 'Resuming training from' in log and min(losses(log)) == ITERS // 2 + 1
    c = ckpt(one)
    assert c['iter_num'] == ITERS // 2 + 3 and c['optimizer']['state'][0]['step'].item() == ITERS // 2 + 3


def test_fsdp_refuses_float16_on_gpus(capsys):
    """float16 needs a GradScaler, which this FSDP path does not set up: refused before anything is sharded."""
    from model import GPT, GPTConfig
    from nanogpt import parallel
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=8, vocab_size=65))
    with bad_input() as e:
        parallel.shard(model, 'cuda', 'float16', compile=False)
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: fsdp=True does not support dtype='float16' on GPUs (its GradScaler is not set up for sharded "
        "gradients here); use --dtype=bfloat16 (or float32), or DDP with --fsdp=False")


def tiny_sharded(tmp_path):
    """A 1-layer model fully_shard'ed over a one-rank gloo group in this process, and its optimizer."""
    import torch.distributed as dist
    from model import GPT, GPTConfig
    from nanogpt import parallel
    dist.init_process_group('gloo', init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    model = parallel.shard(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=8, vocab_size=65)),
                           'cpu', 'float32', compile=False)
    return model, model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), 'cpu')


def test_sharded_save_on_a_full_disk_keeps_the_previous(tmp_path, monkeypatch, capsys):
    """A sharded save that fails (disk full) exits 2 with one line; ckpt.dcp still points at the previous
    checkpoint, which still loads, and no temporary folder is left."""
    import errno
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from nanogpt import parallel
    out = tmp_path / 'out'
    out.mkdir()
    model, optimizer = tiny_sharded(tmp_path)
    try:
        parallel.save_sharded(str(out), model, optimizer, {'iter_num': 1}, True)

        def full(*a, **k):
            raise OSError(errno.ENOSPC, 'No space left on device')
        monkeypatch.setattr(dcp, 'save', full)
        with bad_input() as e:
            parallel.save_sharded(str(out), model, optimizer, {'iter_num': 2}, True)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert f"error: could not write a sharded checkpoint to {out}/ckpt.dcp-00000002.tmp (No space left on " \
               f"device); the previous ckpt.dcp is intact" in err
        assert sorted(f for f in os.listdir(out) if f != '.lock') == ['ckpt.dcp', 'ckpt.dcp-00000001']
        checkpoint = parallel.load_resume(str(out))
        assert checkpoint['iter_num'] == 1 and checkpoint['sharded'] == str(out / 'ckpt.dcp-00000001')
        parallel.load_sharded(model, optimizer, checkpoint, True)
    finally:
        dist.destroy_process_group()


def test_sharded_checkpoint_cannot_run_code(tmp_path, capsys):
    """DCP's .metadata is a pickle: one that would call os.system is refused (exit 2, one line), and not run."""
    import pickle
    from nanogpt import parallel
    folder = tmp_path / 'ckpt.dcp-00000001'
    folder.mkdir()
    marker = tmp_path / 'ran'

    class Evil:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)
    (folder / '.metadata').write_bytes(pickle.dumps(Evil()))
    from model import GPT, GPTConfig
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=8, vocab_size=65))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), 'cpu')
    with bad_input() as e:
        parallel.load_sharded(model, optimizer, {'sharded': str(folder), 'param_groups': []}, False)
    assert e.value.code == 2 and not marker.exists()
    err = capsys.readouterr().err
    assert f"error: {folder} is not a readable sharded checkpoint (" in err and "is not allowed" in err, err
    # and an unreadable meta.pt is refused, the folder left as it is
    (folder / 'meta.pt').write_bytes(b'not a torch file')
    os.symlink(folder.name, tmp_path / 'ckpt.dcp')
    with bad_input():
        parallel.load_resume(str(tmp_path))
    assert f"error: {folder} is not a readable sharded checkpoint (UnpicklingError" in capsys.readouterr().err
