"""SIGTERM to the torchrun launcher (what Kubernetes sends a pod's main process), issue 21 point 10: torchrun
forwards it, the workers finish their step, write the checkpoint and exit 0 within the time the manifests give
torchrun (--shutdown-timeout, inside the pod's grace period); torchrun itself then ends with its SignalException
and exit 1, which the manifests' restartPolicy OnFailure answers with a restart that resumes."""
import re
import signal
import sys

import pytest

from harness import TINY, TORCHRUN, ckpt, popen
from test_reliability import wait_for_line
from test_reliability_k8s import JOBS, pytorchjob

# each worker's process as torchrun starts it, reporting how train.py (its child) exited
WORKER = """import signal, subprocess, sys
p = subprocess.Popen([sys.executable] + sys.argv[1:])
signal.signal(signal.SIGTERM, lambda s, f: p.send_signal(s))
code = p.wait()
print(f"worker exit code {code}", flush=True)
sys.exit(code)
"""


def pod_of(path):
    worker = pytorchjob(path)['spec']['pytorchReplicaSpecs']['Worker']
    return worker, worker['template']['spec']


def shutdown_timeout(command):
    flags = [a for a in command[:command.index('train.py')] if a.startswith('--shutdown-timeout=')]
    assert len(flags) == 1, f"torchrun's --shutdown-timeout is not set: {command}"
    return int(flags[0].split('=')[1])


@pytest.mark.parametrize('path', JOBS)
def test_manifests_give_the_sigterm_checkpoint_time_and_a_restart(path):
    """torchrun SIGKILLs its workers --shutdown-timeout seconds (default 30) after forwarding SIGTERM: the manifests
    set it, below the pod's grace period; and torchrun's exit 1 after SIGTERM is restarted, not a failed job."""
    worker, pod = pod_of(path)
    assert worker['restartPolicy'] == 'OnFailure'
    (container,) = pod['containers']
    assert 30 < shutdown_timeout(container['command']) < pod['terminationGracePeriodSeconds']


def test_sigterm_to_torchrun(shakespeare_char, tmp_path):
    """torchrun as the test manifest starts it (its --shutdown-timeout), 2 gloo workers, SIGTERM to torchrun."""
    (container,) = pod_of('k8s/pytorchjob-test.yaml')[1]['containers']
    worker = tmp_path / 'worker.py'
    worker.write_text(WORKER)
    out = tmp_path / 'out'
    cmd = (TORCHRUN + ['--standalone', f'--shutdown-timeout={shutdown_timeout(container["command"])}',
                       '--nproc-per-node=2', '--no-python', sys.executable, str(worker), 'train.py']
           + TINY + ['--dist_timeout=60', f'--out_dir={out}', '--max_iters=100000'])
    p = popen(cmd, start_new_session=True)
    try:
        wait_for_line(p, r'^iter 6:')
        p.send_signal(signal.SIGTERM)
        rest = p.stdout.read()
        code = p.wait(60)
    finally:
        p.kill()
    m = re.search(r'saving checkpoint to \S+ at iter (\d+) \(stopped by a signal\)', rest)
    assert m and ckpt(out)['iter_num'] == int(m.group(1)), rest[-3000:]
    assert rest.count('worker exit code 0') == 2 and 'forcefully exiting' not in rest, rest[-3000:]
    # torchrun's own ending, as docs/reliability.md says it: its traceback, exit 1
    assert 'Received 15 death signal, shutting down workers' in rest
    last = rest.strip().splitlines()[-1]
    assert re.fullmatch(r'torch\.distributed\.elastic\.multiprocessing\.api\.SignalException: Process \d+ got '
                        r'signal: 15', last), last
    assert code == 1
