"""Two torchrun "nodes" on this machine (c10d rendezvous on 127.0.0.1, gloo): one worker dies once, torchrun
restarts the workers (--max-restarts=1) and init_from=auto finishes the run from the last checkpoint."""
import os
import re
import subprocess

from harness import ROOT
from harness import TINY, TORCHRUN, ckpt, free_port


def test_two_nodes_survive_a_worker_failure(shakespeare_char, tmp_path):
    out, marker = str(tmp_path / 'out'), str(tmp_path / 'crashed-once')
    port = free_port()
    nodes = []
    for node in range(2):
        cmd = TORCHRUN + ['--nnodes=2', '--nproc-per-node=1', '--rdzv-backend=c10d',
                          f'--rdzv-endpoint=127.0.0.1:{port}', '--rdzv-id=reliability-test', '--max-restarts=1',
                          '--monitor-interval=0.5', 'train.py'] + TINY + [
                          f'--out_dir={out}', '--max_iters=20', '--init_from=auto']
        # rank 1 dies at iter 8 unless the marker exists (it creates it): a failure that happens once
        e = dict(os.environ, NANOGPT_FAULT=f'crash@8:1:{marker}')
        # a fresh TCPStore per rendezvous round: with the shared one, a restarted worker can read the dead
        # round's gloo addresses and fail to connect (see docs/reliability.md)
        e['TORCH_DISABLE_SHARE_RDZV_TCP_STORE'] = '1'
        with open(tmp_path / f'node{node}.log', 'w') as f:  # files, not pipes: nothing blocks on a full pipe
            nodes.append(subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=f, stderr=subprocess.STDOUT))
    for p in nodes:
        try:
            p.wait(timeout=180)
        except subprocess.TimeoutExpired:
            for q in nodes:
                q.kill()
            raise
    both = '\n'.join((tmp_path / f'node{node}.log').read_text() for node in range(2))
    assert [p.returncode for p in nodes] == [0, 0], both[-6000:]
    assert os.path.exists(marker) and 'NANOGPT_FAULT: crashing rank 1 at iter 8' in both
    # the restarted workers resumed from the checkpoint of iter 5 and trained to the end
    assert f'Resuming training from {out}' in both, both[-6000:]
    assert re.search(r'^iter 5: ', both.split('Resuming training from')[1], re.M)
    c = ckpt(out)
    assert c['iter_num'] == 21 and len(c['rng']) == 2
