"""
Sharding the model across the ranks of torchrun with FSDP2, for train.py, and its checkpoints.

DDP keeps the whole model, its gradients and AdamW's two moments on every rank: about 16 bytes per parameter.
FSDP2 (`fully_shard`) keeps 1/N of each on each of the N ranks and gathers a Block's weights only while that
Block computes. See docs/fsdp.md for when to use which.

Checkpoints stay in the reference's format by default: the full model and optimizer state dicts gathered on rank
0 (optimizer state keyed by parameter number, as optimizer.state_dict() of the unsharded model), so sample.py,
eval.py, nanoGPT and a DDP or single-process run read an FSDP run's ckpt.pt, and an FSDP run resumes theirs.
For models too large to gather, sharded_checkpoint=True has every rank write its shards with
torch.distributed.checkpoint (DCP) into out_dir/ckpt.dcp, which resumes on any number of ranks.
"""

import dataclasses
import enum
import glob
import os
import pickle
import re
import shutil
import warnings

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint._nested_dict import set_element
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict, get_optimizer_state_dict,
                                                     set_model_state_dict, set_optimizer_state_dict)

from nanogpt.atomicfile import fsync_dir
from nanogpt.checkpoint import CKPT_NAME, build_model, load_checkpoint, save_checkpoint
from nanogpt.errors import fail

SHARDED_NAME = 'ckpt.dcp'  # a symlink to the newest complete folder ckpt.dcp-ITER, replaced atomically
SHARDED_META = 'meta.pt'  # inside that folder: everything but the tensors of model and optimizer
FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0, in CPU memory


# --- wrapping -------------------------------------------------------------------------------------------

def shard(model, device_type, dtype, compile):
    """fully_shard each Block, then the model: the root unit keeps the embeddings, ln_f and lm_head, so the
    tied wte/lm_head weight is one sharded Parameter of one unit and stays tied. On GPUs the Blocks compute in
    bfloat16 and gradients are reduced in float32 (the sharded master weights stay float32); on CPUs all float32.
    With compile, each Block is compiled in place (FSDP2's hooks stay outside the compiled graphs, and the
    parameter names keep no _orig_mod. prefix)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    if device_type == 'cuda' and dtype == 'float16':
        fail("fsdp=True does not support dtype='float16' on GPUs (its GradScaler is not set up for sharded "
             "gradients here); use --dtype=bfloat16 (or float32), or DDP with --fsdp=False")
    # every rank built its own random init (or loaded the same weights): start from rank 0's, as DDP does
    for t in {id(t): t for t in model.state_dict().values()}.values():
        dist.broadcast(t.data, 0)
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if device_type == 'cuda' and dtype == 'bfloat16' else MixedPrecisionPolicy()
    for block in model.transformer.h:
        if compile:
            block.compile()
        fully_shard(block, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    return model


def local_shard(t):
    """This rank's part of a (possibly sharded) tensor."""
    return t.to_local() if hasattr(t, 'to_local') else t


def local(t):
    """A DTensor (FSDP's gradient norm) as the plain tensor every rank holds the same value of."""
    return t.full_tensor() if hasattr(t, 'full_tensor') else t


# --- the optimizer state in the reference's format --------------------------------------------------------

def _names(model, optimizer):
    """The parameter names in the optimizer's order: number i of optimizer.state_dict() is names[i]."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [name_of[id(p)] for g in optimizer.param_groups for p in g['params']]


def to_reference(state, names):
    """DCP's optimizer state dict (keyed by parameter name) as optimizer.state_dict() keys it (by number)."""
    number = {n: i for i, n in enumerate(names)}
    return {'state': {number[n]: s for n, s in state['state'].items()},
            'param_groups': [{k: [number[n] for n in v] if k == 'params' else tuple(v) if isinstance(v, list) else v
                              for k, v in g.items()} for g in state['param_groups']]}  # betas: a tuple, as AdamW's


def from_reference(state, names):
    """optimizer.state_dict()'s format (keyed by number) as DCP's (keyed by parameter name)."""
    return {'state': {names[i]: s for i, s in state['state'].items()},
            'param_groups': [dict(g, params=[names[i] for i in g['params']]) for g in state['param_groups']]}


def full_state(model, optimizer, fsdp):
    """(model state dict, optimizer state dict) in the reference's format: on rank 0 the whole of both, on the
    other ranks of an FSDP run empty dicts. A collective call under FSDP (every rank gathers its shards)."""
    if not fsdp:
        return model.state_dict(), optimizer.state_dict()
    model_state = get_model_state_dict(model, options=FULL)
    optim_state = get_optimizer_state_dict(model, optimizer, options=FULL)
    if dist.get_rank() != 0:
        return {}, {}
    # gathered, lm_head.weight is a copy of transformer.wte.weight: one tensor again, as in the reference's file
    first = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        model_state[name] = model_state[first.setdefault(id(p), name)]
    return model_state, to_reference(optim_state, _names(model, optimizer))


def load_state(model, optimizer, checkpoint, fsdp):
    """Resume the optimizer (and, from a sharded checkpoint, the model too) from a checkpoint of any kind: a
    full ckpt.pt of a single, DDP or FSDP run, or a sharded ckpt.dcp of an FSDP run on any number of ranks.
    From ckpt.pt the weights were loaded before sharding (build_model), so only the optimizer is left."""
    if 'sharded' in checkpoint:
        return load_sharded(model, optimizer, checkpoint, fsdp)
    if fsdp:
        state = from_reference(checkpoint['optimizer'], _names(model, optimizer))
        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
    else:
        optimizer.load_state_dict(checkpoint['optimizer'])


# --- checkpoints --------------------------------------------------------------------------------------------

def save(out_dir, model, optimizer, state, fsdp, sharded, keep, master_process):
    """Write the checkpoint of every rank's model and optimizer plus state (model_args, iter_num, ... as
    train.py keeps them); called by every rank. Full (ckpt.pt, written by rank 0) unless sharded."""
    if sharded and fsdp:
        return save_sharded(out_dir, model, optimizer, state, master_process)
    model_state, optim_state = full_state(model, optimizer, fsdp)
    if master_process:
        save_checkpoint(out_dir, dict(model=model_state, optimizer=optim_state, **state), keep=keep)


def sharded_path(out_dir):
    """The folder of out_dir's sharded checkpoint, or None."""
    link = os.path.join(out_dir, SHARDED_NAME)
    return os.path.realpath(link) if os.path.isdir(link) else None


def save_sharded(out_dir, model, optimizer, state, master_process):
    """Each rank writes its shards of model and optimizer into ckpt.dcp-ITER.tmp; rank 0 adds meta.pt (the rest,
    with the optimizer's param_groups) and fsyncs, renames the folder to ckpt.dcp-ITER and then points the symlink
    ckpt.dcp at it (a new link renamed over the old: atomic). A crash at any moment leaves the previous
    checkpoint; folders no link points to are removed on the next save."""
    folder = os.path.join(out_dir, f"{SHARDED_NAME}-{state['iter_num']:08d}")
    tmp = folder + '.tmp'
    if master_process:
        shutil.rmtree(tmp, ignore_errors=True)
    dist.barrier()
    msd = get_model_state_dict(model)
    osd = get_optimizer_state_dict(model, optimizer)
    try:
        dcp.save({'model': msd, 'optimizer': osd['state']}, storage_writer=dcp.FileSystemWriter(tmp, sync_files=True))
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        fail(f"could not write a sharded checkpoint to {tmp} ({e.strerror}); the previous {SHARDED_NAME} is intact. "
             f"Free some space or choose another --out_dir, then resume with --init_from=resume")
    dist.barrier()  # every rank's shards are on disk
    if master_process:
        torch.save(dict(state, param_groups=osd['param_groups']), os.path.join(tmp, SHARDED_META))
        for f in os.listdir(tmp):
            with open(os.path.join(tmp, f), 'rb') as fh:
                os.fsync(fh.fileno())
        fsync_dir(tmp)
        shutil.rmtree(folder, ignore_errors=True)  # an earlier run's folder of the same iteration
        os.replace(tmp, folder)
        link = os.path.join(out_dir, SHARDED_NAME)
        os.symlink(os.path.basename(folder), link + '.link.tmp')
        os.replace(link + '.link.tmp', link)
        fsync_dir(out_dir)
        for old in glob.glob(os.path.join(out_dir, f'{SHARDED_NAME}-*')):
            if os.path.realpath(old) != os.path.realpath(folder):
                shutil.rmtree(old, ignore_errors=True)
    dist.barrier()  # nobody reads or writes out_dir before the link is in place


class _MetadataUnpickler(pickle.Unpickler):
    """DCP's .metadata file is a pickle; this admits only DCP's own metadata records (dataclasses and enums),
    torch's sizes, dtypes and layouts and a path, so a checkpoint from elsewhere cannot run code when read."""
    PLAIN = {('torch', 'Size'), ('torch.serialization', '_get_layout'), ('pathlib', 'PosixPath'),
             ('collections', 'OrderedDict')}

    def find_class(self, module, name):
        # decide from the name alone first: importing a module (one beside out_dir, say) can itself run code
        if not (module.startswith('torch.distributed.checkpoint.') or (module, name) in self.PLAIN
                or module == 'torch'):
            raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not allowed in a checkpoint's .metadata")
        obj = super().find_class(module, name)
        record = module.startswith('torch.distributed.checkpoint.') and isinstance(obj, type) and (
            dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))
        if record or (module, name) in self.PLAIN or isinstance(obj, torch.dtype):
            return obj
        raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not allowed in a checkpoint's .metadata")


class _SafeLoadPlanner(DefaultLoadPlanner):
    """DCP's own planner unpickles a non-tensor entry (optimizer hyperparameters) with no restriction, so a
    crafted .distcp could run code; this one loads such entries with weights_only=True."""
    def load_bytes(self, read_item, value):
        obj = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj


class _SafeReader(dcp.FileSystemReader):
    def read_metadata(self, *args, **kwargs):
        with open(os.path.join(self.path, '.metadata'), 'rb') as f:
            metadata = _MetadataUnpickler(f).load()
        if getattr(metadata, 'storage_meta', None) is None:
            from torch.distributed.checkpoint.metadata import StorageMeta
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


def load_resume(out_dir, missing_hint=", or use --init_from=auto"):
    """The checkpoint a resume starts from: ckpt.pt, or the sharded one when it is the newer of the two (then
    its meta.pt's dict, with 'sharded': the folder, and no 'model': load_state reads the shards)."""
    folder = sharded_path(out_dir)
    full = os.path.join(out_dir, CKPT_NAME)
    meta = os.path.join(folder, SHARDED_META) if folder else None
    if folder is None or (os.path.exists(full) and os.path.getmtime(full) > os.path.getmtime(meta)):
        return load_checkpoint(out_dir, missing_hint=missing_hint)  # the hint: train.py's resume
    try:
        meta = torch.load(meta, map_location='cpu', weights_only=True)
    except Exception as e:
        fail(f"{folder} is not a readable sharded checkpoint ({type(e).__name__}: {str(e)[:120]}); "
             f"it was left as it is. Use a checkpoint from a source you trust, or another --out_dir")
    return dict(meta, sharded=folder)


def load_latest(out_dir):
    """What sample.py, eval.py and chat.py read: ckpt.pt (or a kept ckpt-ITER.pt), or an FSDP run's sharded
    checkpoint when it is the newer, its model's shards read into this one process (DCP reshards them; through
    the same safe reader and planner as a resume). Either way a dict with 'model', 'model_args', 'config', ...
    as in ckpt.pt, and 'path': what was read, for messages."""
    checkpoint = load_resume(out_dir, missing_hint='')
    if 'sharded' not in checkpoint:
        return dict(checkpoint, path=out_dir if out_dir.endswith('.pt') else os.path.join(out_dir, CKPT_NAME))
    folder = checkpoint.pop('sharded')
    model = build_model(dict(checkpoint, sharded=folder))  # the shape, without weights
    state = {'model': get_model_state_dict(model)}
    _read_shards(state, folder)
    return dict(checkpoint, model=state['model'], path=os.path.join(out_dir, SHARDED_NAME))


def _read_shards(state, folder):
    try:
        with warnings.catch_warnings():  # one process (sample.py, a resume without torchrun) is meant: no warning
            warnings.filterwarnings('ignore', 'torch.distributed is disabled, unavailable or uninitialized')
            dcp.load(state, storage_reader=_SafeReader(folder), planner=_SafeLoadPlanner(),
                     no_dist=not dist.is_initialized())
    except (Exception, CheckpointException) as e:  # DCP wraps what went wrong on each rank (a BaseException)
        why = re.search(r"GLOBAL \S+ is not allowed", str(e)) or re.search(r".*$", str(e).strip())
        fail(f"{folder} is not a readable sharded checkpoint ({why.group(0)[:200]}); "
             f"it was left as it is. Use a checkpoint of this project from a source you trust")


def load_sharded(model, optimizer, checkpoint, fsdp):
    """Read a sharded checkpoint into model and optimizer, sharded or not (DCP reshards to this run's layout)."""
    msd = get_model_state_dict(model)
    osd = get_optimizer_state_dict(model, optimizer)  # creates the optimizer's state to read into
    state = {'model': msd, 'optimizer': osd['state']}
    _read_shards(state, checkpoint['sharded'])
    set_model_state_dict(model, state['model'])
    set_optimizer_state_dict(model, optimizer, dict(state=state['optimizer'], param_groups=checkpoint['param_groups']))
