"""The one test harness: where things are, the tiny model's arguments, and one way to run a script.

run() executes train.py, sample.py, eval.py, bench.py, plot.py and chat.py inside the test process (no interpreter and
torch start-up per call, which was most of the suite's time) and everything else, or anything that needs its
own process (signals, torchrun, an environment of its own, fork), as a subprocess. Either way it returns
the exit code and what the script printed, and checks the code against expect.
"""
import contextlib
import gc
import io
import os
import runpy
import signal
import socket
import subprocess
import sys
import traceback
import types
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the shared data beside the project's folder, or wherever NANOGPT_LOCAL_DATA already points
SHARED = os.path.abspath(os.environ.get('NANOGPT_LOCAL_DATA') or os.path.join(ROOT, '..', 'shared', 'data'))
sys.path.insert(0, ROOT)
# the tests never touch the network: tiktoken's files and the text come from ../shared/data
os.environ['NANOGPT_LOCAL_DATA'] = SHARED

from nanogpt.errors import BAD_INPUT_EXIT, BadInput, report  # noqa: E402
os.environ.setdefault('WANDB_MODE', 'offline')
os.environ.setdefault('OMP_NUM_THREADS', '1')  # tiny models: one thread is faster, and DDP tests run two processes
os.environ.setdefault('PYTHONUNBUFFERED', '1')

# A model small enough for a few seconds on a CPU, dropout on so that the RNG state matters for exact resume.
# Tests append what they need otherwise: the configurator lets the last value win.
TINY = ['--dataset=shakespeare_char', '--device=cpu', '--compile=False', '--dtype=float32',
        '--n_layer=1', '--n_head=2', '--n_embd=32', '--block_size=32', '--batch_size=4', '--dropout=0.1',
        '--gradient_accumulation_steps=2', '--eval_iters=2', '--eval_interval=5', '--log_interval=1',
        '--learning_rate=1e-2', '--warmup_iters=5', '--lr_decay_iters=20']
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run']
IN_PROCESS = ('train.py', 'sample.py', 'eval.py', 'bench.py', 'plot.py', 'chat.py')


@dataclass
class Result:
    args: list
    returncode: int
    stdout: str
    stderr: str

    @property
    def out(self):
        return self.stdout + self.stderr


def run(args, expect=0, env=None, cwd=ROOT, timeout=300, fresh=False):
    """Run a project script (['train.py', '--x=1'], a path to one, or a whole command such as torchrun's) as a
    user would; returns a Result and asserts its exit code is expect (None: any)."""
    args = [str(a) for a in args]
    here = (not fresh and env is None and args[0].endswith(IN_PROCESS)
            and os.path.basename(args[0]) in IN_PROCESS)
    if here:
        r = _run_here(args, cwd)
    else:
        cmd = args if args[0] == sys.executable else [sys.executable] + args
        r = _run_process(cmd, args, cwd, env, timeout)
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"{args} exited {r.returncode}, not {expect}\nstdout:\n{r.stdout[-3000:]}\n"
                             f"stderr:\n{r.stderr[-3000:]}")
    return r


def _run_process(cmd, args, cwd, env, timeout):
    """A subprocess in a session of its own, so that a timeout ends all of it (torchrun's workers too) after
    every Python in it has printed its threads' stacks (PYTHONFAULTHANDLER, SIGABRT): a hang in CI says where."""
    env = dict(os.environ, PYTHONFAULTHANDLER='1', **(env or {}))
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p, signal.SIGABRT)
        try:
            stdout, stderr = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            kill_group(p, signal.SIGKILL)
            stdout, stderr = p.communicate()
        raise AssertionError(f"{args} did not finish in {timeout} s; killed with its whole process group\n"
                             f"stdout:\n{stdout[-6000:]}\nstderr:\n{stderr[-12000:]}") from None
    return Result(args, p.returncode, stdout, stderr)


def kill_group(p, sig):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, sig)


def _run_here(args, cwd):
    """runpy the script as __main__ with sys.argv, cwd and the output redirected; restore all of them after."""
    from nanogpt import lock, stopping
    script = args[0] if os.path.isabs(args[0]) else os.path.join(cwd, args[0])
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, os.getcwd(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = 0
    try:
        os.chdir(cwd)
        sys.argv = [script] + args[1:]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(script, run_name='__main__')
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
            except BadInput as e:  # what the script's exit_on_bad_input() hook does outside a test
                report(e)
                code = BAD_INPUT_EXIT
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
        signal.signal(signal.SIGINT, saved[2])
        signal.signal(signal.SIGTERM, saved[3])
        stopping._caught.clear()
        for folder in list(lock._held):  # as the kernel does when a script's process ends
            lock.release(folder)
        gc.collect()
    return Result(args, code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def bad_input():
    """Like pytest.raises(SystemExit) around library code, as a script sees it: the block must raise BadInput,
    whose one `error:` line is printed to stderr, and .value.code is the script's exit code (2)."""
    info = types.SimpleNamespace(value=None)
    try:
        yield info
    except BadInput as e:
        report(e)
        info.value = SystemExit(BAD_INPUT_EXIT)
    else:
        raise AssertionError("no BadInput was raised")


def train_args(*args):
    """A tiny training run's arguments for run(): in this process."""
    return ['train.py'] + TINY + list(args)


def train_cmd(*args):
    """The whole command of a tiny training run, for popen (signals) or a run of its own."""
    return [sys.executable, 'train.py'] + TINY + list(args)


def torchrun_cmd(nproc, *args, launcher=('--standalone',)):
    # --dist_timeout: a rank whose peer hangs fails in a minute instead of waiting out the subprocess timeout
    return (TORCHRUN + list(launcher) + [f'--nproc-per-node={nproc}', 'train.py'] + TINY + ['--dist_timeout=60']
            + list(args))


def popen(cmd, **kw):
    """A process whose output is read as it comes (to signal it at a chosen line)."""
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **kw.pop('env', {})), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def signal_rank(p, rank, sig):
    """Send sig to one worker of the torchrun process p (its child with RANK=rank in its environment)."""
    kids = open(f'/proc/{p.pid}/task/{p.pid}/children').read().split()
    match = [int(k) for k in kids if f'RANK={rank}'.encode() in open(f'/proc/{k}/environ', 'rb').read().split(b'\0')]
    assert len(match) == 1, kids
    os.kill(match[0], sig)


def ckpt(out_dir):
    """out_dir/ckpt.pt as nanoGPT reads it: torch.load with torch's defaults (weights_only=True)."""
    import torch
    return torch.load(os.path.join(out_dir, 'ckpt.pt'), map_location='cpu')


def load_model(out_dir):
    """The GPT of out_dir's checkpoint, in eval mode."""
    from nanogpt.checkpoint import build_model, load_checkpoint
    return build_model(load_checkpoint(str(out_dir))).eval()


def same_weights(a, b):
    import torch
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
