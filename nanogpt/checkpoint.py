"""
Checkpoints in the reference's format: out_dir/ckpt.pt holding a dict with model, optimizer,
model_args, iter_num, best_val_loss and config. Shared by train.py, sample.py, eval.py and the tools.

train.py adds keys that nanoGPT ignores on resume: rng (every rank's python, numpy, torch and CUDA
random states), scaler (the GradScaler's state) and wandb_run_id. Everything in a checkpoint is a tensor
or a plain Python value, so torch.load's weights_only=True (torch's default since 2.6, and how nanoGPT
loads it there) reads it, and a checkpoint from elsewhere cannot run code here. Writes are atomic, so a
crash at any moment leaves the last good checkpoint; keep>0 also keeps the last k as ckpt-ITER.pt beside it.
"""

import glob
import os
import pickle
import random
import re
import sys

import numpy as np
import torch
import torch.distributed as dist

from model import GPT, MODERN_KEYS, GPTConfig
from nanogpt.atomicfile import atomic_write, fsync_dir, link_atomic
from nanogpt.errors import fail
from nanogpt.lock import hold
from nanogpt.tokenizer import padded_vocab_size

CKPT_NAME = 'ckpt.pt'
COMPILE_PREFIX = '_orig_mod.'  # torch.compile's wrapper; checkpoints from elsewhere may carry it
SHAPE_KEYS = ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size')
MODERN_DEFAULTS = {k: getattr(GPTConfig, k) for k in MODERN_KEYS}  # all off: GPT-2
# checkpoints written before the random states were tensors hold numpy arrays: these admit exactly those
_NUMPY_ARRAY = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), getattr(np, '_core', np.core).multiarray._reconstruct]


def has_checkpoint(out_dir):
    """The checkpoint out_dir holds, for messages: OUT/ckpt.pt, or OUT/ckpt.dcp, the sharded checkpoint of an FSDP
    run (see nanogpt/parallel.py), or both; '' (false) when it holds none."""
    return ' and '.join(os.path.join(out_dir, name) for name in (CKPT_NAME, 'ckpt.dcp')
                        if os.path.exists(os.path.join(out_dir, name)))


def prepare_out_dir(out_dir, what='train.py'):
    """Create out_dir, prove it is writable, make this process its only writer (nanogpt/lock.py) and only
    then drop the temporary files a killed run left behind: never those of another live run."""
    probe = os.path.join(out_dir, f'.write-test.{os.getpid()}')
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(probe, 'wb') as f:
            f.write(b'ok')
        os.remove(probe)
    except OSError as e:
        fail(f"cannot write to out_dir {out_dir!r} ({e.strerror}); choose a writable --out_dir")
    hold(out_dir, what)
    for stale in glob.glob(os.path.join(out_dir, '*.tmp.*')):
        os.remove(stale)


def save_checkpoint(out_dir, checkpoint, keep=0):
    """Write out_dir/ckpt.pt atomically: a temporary file in the same folder, fsync'ed, then renamed,
    so a crash at any moment leaves the previous checkpoint whole. With keep > 0 the same file is also
    kept as ckpt-ITER.pt and only the newest keep of those stay."""
    path = os.path.join(out_dir, CKPT_NAME)
    try:
        with atomic_write(path) as f:  # renamed over ckpt.pt only once whole and fsync'ed
            torch.save(checkpoint, f)
            if keep > 0:  # the same bytes as ckpt-ITER.pt, durable before that name appears
                f.flush()
                os.fsync(f.fileno())
                link_atomic(f.name, os.path.join(out_dir, f"ckpt-{checkpoint.get('iter_num', 0):08d}.pt"))
                for old in kept_checkpoints(out_dir)[:-keep]:
                    os.remove(old)
        fsync_dir(out_dir)  # make the rename itself durable
    except (OSError, RuntimeError) as e:  # disk full, quota, permissions: the previous ckpt.pt is untouched
        # torch.save reports a failed write (ENOSPC, EFBIG) as a RuntimeError; the OSError is its context
        cause = e if isinstance(e, OSError) else e.__context__
        why = cause.strerror if isinstance(cause, OSError) else str(e).strip().splitlines()[0][:200]
        fail(f"could not write a checkpoint to {out_dir} ({why}); the previous {CKPT_NAME} is intact. "
             f"Free some space or choose another --out_dir, then resume with --init_from=resume")
    finally:
        for p in glob.glob(os.path.join(out_dir, 'ckpt-*.pt.tmp.link')):  # atomic_write removes its own
            os.remove(p)


def kept_checkpoints(out_dir):
    """The ckpt-ITER.pt files of out_dir, oldest first."""
    paths = [p for p in glob.glob(os.path.join(out_dir, 'ckpt-*.pt')) if re.search(r'ckpt-\d+\.pt$', p)]
    return sorted(paths)


def load_checkpoint(out_dir, map_location='cpu', missing_hint=''):
    """Load out_dir/ckpt.pt (or a path to a .pt file), with a clear error when it is missing or unreadable;
    strips torch.compile's '_orig_mod.' prefix from parameter names."""
    path = out_dir if out_dir.endswith('.pt') else os.path.join(out_dir, CKPT_NAME)
    if not os.path.exists(path):
        fail(f"no checkpoint at {path}; train one first or check --out_dir{missing_hint}")
    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAY):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refused something that would run code
        what = re.search(r'GLOBAL (\S+)', str(e))
        fail(f"{path} was not loaded: it holds {what.group(1) if what else 'objects'} that only code could rebuild, "
             f"and loading it could run that code. Checkpoints of this project and nanoGPT hold tensors and plain "
             f"values; use one from a source you trust")
    except Exception as e:  # truncated zip
        older = [p for p in kept_checkpoints(os.path.dirname(path)) if os.path.abspath(p) != os.path.abspath(path)]
        hint = f"; an older one is {older[-1]}: copy it to {path} to resume from it" if older else ""
        fail(f"{path} is not a readable checkpoint ({type(e).__name__}); it is truncated or corrupt. "
             f"It was left as it is{hint}")
    missing = [k for k in ('model', 'model_args') if k not in checkpoint] if isinstance(checkpoint, dict) else ['all']
    if missing:
        fail(f"{path} lacks {', '.join(missing)}; it is not a checkpoint of this project or nanoGPT")
    config = checkpoint.get('config', {})  # what sample.py, chat.py and eval.py read from it: by type
    odd = (f"its config is a {type(config).__name__}, not a dict" if not isinstance(config, dict) else
           next((f"its config's {k} is {config[k]!r:.40}, not a string" for k in ('dataset', 'tokenizer_sha256')
                 if config.get(k) is not None and not isinstance(config[k], str)), None))
    if odd:
        fail(f"{path} was not loaded: {odd}; it is not a checkpoint of this project or nanoGPT. "
             f"Use one from a source you trust")
    state = checkpoint['model']
    for k in list(state):
        if k.startswith(COMPILE_PREFIX):
            state[k[len(COMPILE_PREFIX):]] = state.pop(k)
    return checkpoint


def check_shape(checkpoint, requested, defaults, argv=None):
    """On resume the model's shape comes from the checkpoint; a shape the user asked for (a value that
    differs from train.py's default, or any value given as --key=value) and that differs from the
    checkpoint's is an error, not ignored."""
    argv = sys.argv[1:] if argv is None else argv
    given = {a[2:].partition('=')[0] for a in argv if a.startswith('--')}
    for k, v in requested.items():
        have = checkpoint['model_args'].get(k, MODERN_DEFAULTS.get(k))
        if v != have and (v != defaults[k] or k in given):
            fail(f"the checkpoint's model has {k}={have!r} but --{k}={v!r} was asked for; drop --{k} "
                 f"to resume it, or train the new shape into another --out_dir")


def build_model(checkpoint, dropout=None):
    """The GPT a checkpoint describes, with its weights (and another dropout, when given); a sharded checkpoint's
    weights are read later, into the sharded model (nanogpt.parallel.load_state)."""
    keys = SHAPE_KEYS + ('dropout',) + MODERN_KEYS
    args = {k: checkpoint['model_args'][k] for k in keys if k in checkpoint['model_args']}
    if dropout is not None:
        args['dropout'] = dropout
    model = GPT(GPTConfig(**args))
    if 'sharded' not in checkpoint:
        load_weights(model, checkpoint)
    return model


def model_args_of(config):
    """A checkpoint's model_args for a model of this GPTConfig: nanoGPT's keys, and the modern options that
    are on (a GPT-2 model's model_args are exactly nanoGPT's, so nanoGPT loads its checkpoints)."""
    args = {k: getattr(config, k) for k in SHAPE_KEYS + ('dropout',)}
    return {**args, **{k: getattr(config, k) for k, off in MODERN_DEFAULTS.items() if getattr(config, k) != off}}


def load_gpt2(init_from, dropout=0.0, vocab_size=0):
    """GPT-2 weights: one of model.GPT2_NAMES from the Hugging Face hub, or a folder written by save_pretrained.
    With vocab_size above GPT-2's 50257 ids (a chat dataset's special tokens), the vocabulary is padded."""
    try:
        model = GPT.from_pretrained(init_from, dict(dropout=dropout))
    except ValueError as e:
        fail(str(e))
    except OSError as e:  # offline, a folder without config.json or weights
        fail(f"could not load GPT-2 weights {init_from!r} ({str(e).strip().splitlines()[0][:200]}). Without network "
             f"access, save them elsewhere with transformers' save_pretrained and pass that folder as --init_from")
    if vocab_size > model.config.vocab_size:
        model.pad_vocab(padded_vocab_size(vocab_size))
    return model


def init_weights(init_from, dropout=0.0, vocab_size=0, tokenizer_sha256=None, load=load_checkpoint):
    """The weights a new run starts from: another run's out_dir (a folder holding ckpt.pt, or read by load, e.g.
    parallel.load_latest for a sharded one: its model only, the optimizer and iteration count are not taken),
    which must have been trained with the same tokenizer (tokenizer_sha256, None for GPT-2 BPE), or GPT-2's."""
    if os.path.isdir(init_from) and has_checkpoint(init_from):
        checkpoint = load(init_from)
        path = checkpoint.get('path', os.path.join(init_from, CKPT_NAME))
        theirs = checkpoint.get('config', {}).get('tokenizer_sha256')
        if theirs != tokenizer_sha256:
            name = lambda sha: f"trained tokenizer {sha[:12]}..." if sha else 'GPT-2 BPE (or characters)'
            fail(f"{path} was trained on {name(theirs)} ids but the dataset has {name(tokenizer_sha256)} ids; "
                 f"prepare the dataset with that run's tokenizer (data/<its dataset>/tokenizer.json)")
        print(f"initializing from the weights of {path} (a new run: iteration 0, fresh optimizer)")
        return build_model(checkpoint, dropout=dropout)
    return load_gpt2(init_from, dropout, vocab_size)


def load_weights(model, checkpoint):
    try:
        model.load_state_dict(checkpoint['model'])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[1:2] or [str(e)[:200]]
        fail(f"the checkpoint's weights do not fit its model_args {checkpoint['model_args']} "
             f"({first[0].strip()}); it was not written by this project or nanoGPT for this model")


# --- random state, per rank -------------------------------------------------------------------------

def rng_state(device_type):
    """This process's random states as tensors and plain values (numpy's key array as an int64 tensor)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {'python': random.getstate(), 'numpy': (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
             'torch': torch.get_rng_state()}
    if device_type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def all_rng_states(device_type):
    """Every rank's random state, as a list indexed by rank (a collective call under DDP)."""
    state = rng_state(device_type)
    if not (dist.is_available() and dist.is_initialized()):
        return [state]
    states = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def restore_rng(states, rank, world_size, device_type):
    """Restore this rank's random state; True when it could (same world size as when saved)."""
    if not states or len(states) != world_size:
        return False
    state = states[rank]
    random.setstate(state['python'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys  # older checkpoints hold the numpy array
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state['torch'])
    if device_type == 'cuda' and 'cuda' in state:
        torch.cuda.set_rng_state(state['cuda'])
    return True


class SavePlan:
    """When train.py writes ckpt.pt, so that a run saves once at its end and a keep-best run keeps its best.

    always_save=True (nanoGPT's default): at every evaluation after the start, and at the end; the evaluation
    at max_iters saves nothing, as the end-of-training save follows one step later (no 2000 then 2001).
    always_save=False (keep the best): on a new best val loss only; at the end nothing more once the run has
    evaluated since its start (the last steps' val loss was never measured, so they cannot replace the best),
    and the end says which checkpoint is kept. A stop by a signal always saves: the restart needs it."""

    def __init__(self, always_save, max_iters, start_iter):
        self.always_save, self.max_iters, self.start_iter = always_save, max_iters, start_iter
        self.evaluated = False  # an evaluation after the start, in this run
        self.best = None  # (iter, val loss) of the best checkpoint this run saved

    def at_eval(self, iter_num, improved, val_loss):
        """The reason to save after this evaluation, or None."""
        if iter_num <= self.start_iter:  # the checkpoint already holds this state (or there is none to hold)
            return None
        self.evaluated = True
        if improved and not self.always_save:
            self.best = (iter_num, val_loss)
            return 'new best val loss'
        if self.always_save and iter_num < self.max_iters:
            return 'new best val loss' if improved else 'always_save_checkpoint'
        return None

    def at_end(self, stopped, out_dir):
        """(the reason to save at the end or None, a line that says which checkpoint is kept or None)."""
        if stopped:
            return 'stopped by a signal', None
        if self.always_save or not self.evaluated:
            return 'end of training', None
        if self.best is not None:
            it, loss = self.best
            kept = f"the one of iter {it} (best val loss {loss:.4f})"
        else:
            kept = f"the one this run resumed from (iter {self.start_iter}): no evaluation beat its best val loss"
        return None, (f"end of training: {out_dir}/ckpt.pt keeps {kept}; always_save_checkpoint=False keeps the "
                      f"best, not the last iterations")
