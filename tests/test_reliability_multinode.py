"""Two torchrun "nodes" on this machine (c10d rendezvous on 127.0.0.1, gloo): one worker dies once, torchrun
restarts the workers (--max-restarts=1) and init_from=auto finishes the run from the last checkpoint."""
import os
import re
import signal
import subprocess
import time

from harness import ROOT
from harness import TINY, TORCHRUN, ckpt, free_port, kill_group


def test_two_nodes_survive_a_worker_failure(shakespeare_char, tmp_path):
    out, marker = str(tmp_path / 'out'), str(tmp_path / 'crashed-once')
    port = free_port()
    nodes = []
    for node in range(2):
        cmd = TORCHRUN + ['--nnodes=2', '--nproc-per-node=1', '--rdzv-backend=c10d',
                          f'--rdzv-endpoint=127.0.0.1:{port}', '--rdzv-id=reliability-test', '--max-restarts=1',
                          '--monitor-interval=0.5', 'train.py'] + TINY + [
                          f'--out_dir={out}', '--max_iters=20', '--init_from=auto', '--dist_timeout=60']
        # rank 1 dies at iter 8 unless the marker exists (it creates it): a failure that happens once
        e = dict(os.environ, NANOGPT_FAULT=f'crash@8:1:{marker}', PYTHONFAULTHANDLER='1')
        # a fresh TCPStore per rendezvous round: with the shared one, a restarted worker can read the dead
        # round's gloo addresses and fail to connect (see docs/reliability.md)
        e['TORCH_DISABLE_SHARE_RDZV_TCP_STORE'] = '1'
        with open(tmp_path / f'node{node}.log', 'w') as f:  # files, not pipes: nothing blocks on a full pipe
            nodes.append(subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=f, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    for p in nodes:
        try:
            p.wait(timeout=180)
        except subprocess.TimeoutExpired:  # every process's stacks into the logs, then end both nodes whole
            for sig in (signal.SIGABRT, signal.SIGKILL):
                for q in nodes:
                    kill_group(q, sig)
                time.sleep(10)
            logs = '\n'.join((tmp_path / f'node{node}.log').read_text() for node in range(2))
            raise AssertionError(f"the two nodes did not finish in 180 s:\n{logs[-15000:]}") from None
    both = '\n'.join((tmp_path / f'node{node}.log').read_text() for node in range(2))
    assert [p.returncode for p in nodes] == [0, 0], both[-6000:]
    assert os.path.exists(marker) and 'NANOGPT_FAULT: crashing rank 1 at iter 8' in both
    # the restarted workers resumed from the checkpoint of iter 5 and trained to the end
    assert f'Resuming training from {out}' in both, both[-6000:]
    assert re.search(r'^iter 5: ', both.split('Resuming training from')[1], re.M)
    c = ckpt(out)
    assert c['iter_num'] == 21 and len(c['rng']) == 2


def test_a_rank_that_stops_answering_fails_the_run_in_dist_timeout(shakespeare_char, tmp_path):
    """Rank 1 hangs at iter 3; rank 0 waits at most --dist_timeout in its all-reduce, fails, and torchrun ends
    both, instead of the run waiting for gloo's own 30 minutes."""
    from harness import run, torchrun_cmd
    r = run(torchrun_cmd(2, f'--out_dir={tmp_path / "out"}', '--max_iters=20', '--dist_timeout=5'), expect=None,
            env=dict(NANOGPT_FAULT='hang@3:1'), timeout=170)
    assert r.returncode != 0 and 'NANOGPT_FAULT: rank 1 hangs at iter 3' in r.out
    assert re.search(r'[Tt]imed? ?out', r.out), r.out[-3000:]
