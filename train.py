"""
Train a GPT, on one device or several with DDP.

One device, e.g. a CPU:
$ python train.py config/train_shakespeare_char.py --device=cpu --compile=False

DDP on one node with 4 GPUs (gloo is used instead of NCCL when device=cpu):
$ torchrun --standalone --nproc_per_node=4 train.py config/train_gpt2.py

DDP across 2 nodes (run on each, with its --node_rank):
$ torchrun --nproc_per_node=8 --nnodes=2 --node_rank=0 \
    --master_addr=123.456.123.456 --master_port=1234 train.py
"""

import math
import os
import sys
import time
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from configurator import configure
from model import GPT2_NAMES, GPT, MODERN_KEYS, GPTConfig
from nanogpt import parallel, resume, stopping
from nanogpt.advice import run_notes
from nanogpt.chat import ChatData
from nanogpt.checkpoint import (MODERN_DEFAULTS, SavePlan, all_rng_states, build_model, check_shape,
                                has_checkpoint, init_weights, model_args_of, prepare_out_dir,
                                restore_rng)
from nanogpt.dataset import (bin_dtype, check_batch_ids, check_dataset, dataset_dir, load_meta,
                             load_summary)
from nanogpt.device import compute_dtype, default_dtype, peak_flops, setup
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.optim import build_optimizer
from nanogpt.runlog import RunLog, wandb_offline_unless_key
from nanogpt.tokenizer import GPT2_PADDED_VOCAB, dataset_tokenizer, padded_vocab_size

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
# default config values, designed to train GPT-2 (124M) on OpenWebText
# I/O
out_dir = 'out'
eval_interval = 2000
log_interval = 1
eval_iters = 200
eval_only = False  # if True, evaluate once and exit
always_save_checkpoint = True  # if True, save at every evaluation, not only on a new best val loss
# init_from: another run's out_dir starts a new run from its ckpt.pt's weights (pretraining, then
# chat finetuning); 'auto' resumes when out_dir holds a checkpoint, else starts from scratch
init_from = 'scratch'  # 'scratch', 'resume', 'auto', 'gpt2'..'gpt2-xl', a GPT-2 folder, an out_dir
overwrite_checkpoint = False  # let a new run (scratch, gpt2*) replace the checkpoint in out_dir
keep_checkpoints = 0  # also keep the last k checkpoints as out_dir/ckpt-ITER.pt (0: only ckpt.pt)
# wandb logging
wandb_log = False
wandb_project = 'owt'
wandb_run_name = 'gpt2'
# data
dataset = 'openwebtext'
gradient_accumulation_steps = 5 * 8  # to simulate larger batches
batch_size = 12  # micro-batch size per device
block_size = 1024
# model
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0  # 0 for pretraining, try 0.1+ for finetuning
bias = False  # biases in LayerNorm and Linear layers
# model, modern options (model.py's GPTConfig; config/*_modern.py): all off is GPT-2
rope = False  # rotary position embeddings instead of learned ones
qk_norm = False  # RMS-normalised queries and keys
relu2 = False  # ReLU^2 MLP instead of GELU
untied_head = False  # an output layer of its own, not the token embedding
zero_init = False  # residual projections (and an untied head) start at zero
logit_softcap = 0.0  # logits = c * tanh(logits / c); 0: off
# optimizer: 'adamw' (the reference) or 'muon': Muon for the blocks' matrices, AdamW for the rest
optimizer = 'adamw'
muon_lr = 0.02  # Muon's peak learning rate; the schedule scales it as it scales learning_rate
muon_momentum = 0.95
# adamw
learning_rate = 6e-4
max_iters = 600000
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0  # clip gradients at this norm, 0 to disable
# learning rate decay
decay_lr = True
warmup_iters = 2000
lr_decay_iters = 600000  # should be ~= max_iters per Chinchilla
min_lr = 6e-5  # ~= learning_rate/10 per Chinchilla
# system
backend = 'nccl'  # DDP backend on CUDA; CPU runs always use gloo
dist_timeout = 600  # torchrun: seconds a rank waits for its peers before failing (gloo's: 1800)
device = 'cuda'  # 'cpu', 'cuda', 'cuda:0', 'mps'
# bfloat16 where the GPU has it, else float16 with a GradScaler; a CPU: float32 unless told bfloat16
dtype = default_dtype()
compile = True  # torch.compile the model (PyTorch 2.0+)
# fsdp: under torchrun, shard weights, gradients and optimizer state (FSDP2, docs/fsdp.md)
fsdp = False
sharded_checkpoint = False  # with fsdp: each rank writes its shards (out_dir/ckpt.dcp): huge models
# -----------------------------------------------------------------------------
shape_defaults = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=bias, **MODERN_DEFAULTS)
config = configure(globals())

# -----------------------------------------------------------------------------
# Knobs that would crash later, or silently train or measure nothing

for k in ('batch_size', 'block_size', 'gradient_accumulation_steps', 'eval_interval',
          'log_interval', 'eval_iters', 'n_layer', 'n_head', 'n_embd'):
    if config[k] < 1:
        fail(f"{k}={config[k]} must be 1 or more; pass --{k}=1 or more")
if max_iters < 0:
    fail(f"max_iters={max_iters} would train nothing; "
         f"pass --max_iters=0 or more (the last iteration's number)")
if init_from not in ('scratch', 'resume', 'auto') + GPT2_NAMES and not os.path.isdir(init_from):
    fail(f"init_from={init_from!r} is none of scratch, resume, auto, {', '.join(GPT2_NAMES)} "
         f"or a folder of GPT-2 weights or of another run (holding ckpt.pt)")
if n_embd % n_head != 0:
    fail(f"n_embd={n_embd} must be a multiple of n_head={n_head} "
         f"(each head gets n_embd / n_head dimensions); change --n_head or --n_embd")
modern = {k: config[k] for k in MODERN_KEYS}
modern_on = [k for k, v in modern.items() if v != MODERN_DEFAULTS[k]]
gpt2_weights = init_from in GPT2_NAMES or os.path.isdir(init_from) and not has_checkpoint(init_from)
if modern_on and gpt2_weights:
    fail(f"GPT-2's weights are for GPT-2's architecture; the modern options "
         f"({', '.join(modern_on)}) need --init_from=scratch")
device_type, ctx = setup(device, dtype)  # exits 2 for a device torch cannot use; ctx: autocast
# what this run starts from: init_from, with 'auto' decided by what out_dir holds
start_from = init_from
if init_from == 'auto':
    start_from = 'resume' if has_checkpoint(out_dir) else 'scratch'
if (start_from != 'resume' and not eval_only and has_checkpoint(out_dir)
        and not overwrite_checkpoint):
    fail(f"{has_checkpoint(out_dir)} already exists and init_from={start_from!r} would overwrite "
         f"it; continue it with --init_from=resume (or auto), pick a new --out_dir, "
         f"or pass --overwrite_checkpoint=True")

# -----------------------------------------------------------------------------
# Processes: DDP when launched by torchrun (it sets RANK), else one

ddp = int(os.environ.get('RANK', -1)) != -1
if ddp:
    rank = int(os.environ['RANK'])
    local_rank = int(os.environ['LOCAL_RANK'])
    world_size = int(os.environ['WORLD_SIZE'])
    if gradient_accumulation_steps % world_size != 0:
        fail(f"gradient_accumulation_steps={gradient_accumulation_steps} does not divide by the "
             f"{world_size} processes; use a multiple of {world_size}")
    if device_type == 'cuda':
        device = f'cuda:{local_rank}'
        torch.cuda.set_device(device)
    # a hung peer becomes an error after dist_timeout, not a silent wait
    dist.init_process_group(backend=backend if device_type == 'cuda' else 'gloo',
                            timeout=timedelta(seconds=dist_timeout))
    gradient_accumulation_steps //= world_size
else:
    rank, local_rank, world_size = 0, 0, 1
master_process = rank == 0  # logs, evaluates and checkpoints
sharding = fsdp and ddp  # FSDP: one process has nothing to shard over


def print0(*args, **kwargs):
    """print on the master process only"""
    if master_process:
        print(*args, **kwargs)


tokens_per_iter = gradient_accumulation_steps * world_size * batch_size * block_size
print0(f"tokens per iteration will be: {tokens_per_iter:,}")
if master_process:
    prepare_out_dir(out_dir)
# no W&B API key: wandb_mode='offline' (warning how to sync later), not a crash after start-up
wandb_mode = wandb_offline_unless_key() if wandb_log and master_process else None
stopping.catch_preemption()
torch.manual_seed(1337 + rank)  # each process gets a different seed

# -----------------------------------------------------------------------------
# Data: random windows of the memmapped token files

data_dir = dataset_dir(dataset)
meta = load_meta(data_dir)
token_dtype = bin_dtype(data_dir)
summary = load_summary(data_dir) or {}
val_sha256 = summary.get('val_sha256')  # in the checkpoint: a resume sees when val data changed
# a chat dataset (data/prepare_chat.py): whole conversations, only the assistant's tokens as targets
chat_data = ChatData.of(data_dir, summary, token_dtype, block_size)


def get_batch(split, seq=None, k=0):
    """Random windows of the split (of a chat dataset: whole conversations, see nanogpt/chat.py).
    A training batch is this process's number seq (iter_num * GA + micro_step) and draws from its
    own seed, the global micro-batch number: process r's micro-step j of iteration i is global
    micro-batch (i * world + r) * GA + j, so the data is the same for any number of processes
    (2 with GA k/2 see what 1 sees with GA k), evaluations do not shift it, and a resumed run
    continues it. Evaluation batch k has its own seed too, so every eval sees the same batches
    and evaluating never moves torch's RNG (dropout): resume stays exact."""
    if seq is None:  # evaluation batch k of this process
        rng = np.random.default_rng((7331, rank, k))
    else:
        it, micro = divmod(seq, gradient_accumulation_steps)
        global_micro = (it * world_size + rank) * gradient_accumulation_steps + micro
        rng = np.random.default_rng((1337, global_micro))
    if chat_data is not None:  # batch_size conversations drawn by rng, padded; see nanogpt/chat.py
        x, y = chat_data.batch(split, rng, batch_size)
    else:
        # a fresh memmap per batch avoids a known leak of np.memmap
        data = np.memmap(os.path.join(data_dir, f'{split}.bin'), dtype=token_dtype, mode='r')
        ix = rng.integers(len(data) - block_size, size=batch_size).tolist()
        x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64))
                         for i in ix])
    # ids past the vocabulary (a summary.json that understated them): one line, not an IndexError
    check_batch_ids(x, y, model_args['vocab_size'], f"{data_dir}/{split}.bin")
    if device_type == 'cuda':
        # pin so the copy to the GPU can be asynchronous
        x = x.pin_memory().to(device, non_blocking=True)
        y = y.pin_memory().to(device, non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y


# -----------------------------------------------------------------------------
# Vocabulary: GPT-2's, a char-level meta.pkl's, or a trained tokenizer's

iter_num = 0
best_val_loss = 1e9
wandb_run_id = None  # kept in the checkpoint so a resumed run logs on into the same wandb run
val_changed, old_dataset = False, None  # resuming on other val data (see nanogpt/resume.py)

meta_vocab_size = meta['vocab_size'] if meta else None
if meta_vocab_size is not None:
    print0(f"found vocab_size = {meta_vocab_size} (inside {data_dir}/meta.pkl)")
tokenizer_sha256 = None  # a trained tokenizer's: the checkpoint's record of which ids these are
if summary.get('tokenizer') == 'trained':  # exits 2 if its tokenizer.json is gone or differs
    trained_tok = dataset_tokenizer(data_dir)
    meta_vocab_size = padded_vocab_size(trained_tok.vocab_size)
    tokenizer_sha256 = trained_tok.sha256
    print0(f"found a trained tokenizer ({trained_tok.vocab_size:,} ids, "
           f"model vocab {meta_vocab_size:,}) in {data_dir}")

# -----------------------------------------------------------------------------
# Model: from scratch, from a checkpoint to resume, or from other weights

checkpoint = None
if start_from == 'scratch':
    print0("Initializing a new model from scratch")
    vocab_size = meta_vocab_size if meta_vocab_size is not None else GPT2_PADDED_VOCAB
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                          bias=bias, vocab_size=vocab_size, dropout=dropout, **modern))
elif start_from == 'resume':
    print0(f"Resuming training from {out_dir}")  # and resume.report() below says what is continued
    checkpoint = parallel.load_resume(out_dir)  # ckpt.pt, or an FSDP run's ckpt.dcp when newer
    saved_sha256 = checkpoint.get('config', {}).get('tokenizer_sha256')
    if saved_sha256 != tokenizer_sha256:
        name = lambda sha: (f"trained, sha256 {str(sha)[:12]}..." if sha
                            else 'GPT-2 BPE or characters')
        fail(f"{out_dir}/ckpt.pt was trained on another tokenization than data/{dataset}'s "
             f"({name(saved_sha256)} vs {name(tokenizer_sha256)}); "
             f"resume on the dataset it was trained on")
    # the model's shape comes from the checkpoint; asking for another one is an error
    requested = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=bias, **modern)
    check_shape(checkpoint, requested, shape_defaults)
    saved_optimizer = checkpoint.get('config', {}).get('optimizer', 'adamw')
    if saved_optimizer != optimizer:
        fail(f"{out_dir}'s checkpoint was trained with --optimizer={saved_optimizer}; "
             f"resume it with that optimizer")
    model = build_model(checkpoint, dropout=dropout)
    config.update({k: getattr(model.config, k) for k in shape_defaults})  # saved: the real shape
    iter_num = checkpoint['iter_num']
    if not eval_only:
        resume.check_left_to_train(out_dir, iter_num, max_iters, lr_decay_iters,
                                   auto=init_from == 'auto')
    val_changed, old_dataset = resume.val_changed(checkpoint, dataset, val_sha256)
    if master_process:
        resume.report(checkpoint, config, iter_num, val_changed, old_dataset)
    # a loss on other val data is no bar
    best_val_loss = 1e9 if val_changed else checkpoint['best_val_loss']
    wandb_run_id = checkpoint.get('wandb_run_id')
else:  # gpt2*, a folder of GPT-2 weights (padded for a chat dataset's ids), another run's out_dir
    if tokenizer_sha256 is not None and not has_checkpoint(init_from):
        fail(f"GPT-2 weights know GPT-2 BPE ids, but data/{dataset} has a trained tokenizer's; "
             f"train from scratch (--init_from=scratch) or prepare the data with GPT-2 BPE")
    model = init_weights(init_from,
                         dropout=dropout,
                         vocab_size=summary.get('max_token_id', -1) + 1,  # ids the data uses
                         tokenizer_sha256=tokenizer_sha256,  # must match a run's checkpoint
                         load=parallel.load_latest)  # a run's ckpt.pt, or its shards (FSDP)
    asked = [k for k, v in modern.items()
             if v not in (MODERN_DEFAULTS[k], getattr(model.config, k))]
    if asked:
        fail(f"{', '.join(asked)}: the modern options are those of the model in {init_from}; "
             f"drop them, or train from scratch")
    config.update({k: getattr(model.config, k) for k in MODERN_KEYS})  # saved: the real model
if block_size < model.config.block_size:
    model.crop_block_size(block_size)
elif block_size > model.config.block_size:
    fail(f"block_size={block_size} is larger than the model's {model.config.block_size}; "
         f"use --block_size={model.config.block_size} or smaller")
if meta_vocab_size is not None and meta_vocab_size > model.config.vocab_size:
    fail(f"dataset {dataset} has {meta_vocab_size} tokens "
         f"but the model only {model.config.vocab_size}")
check_dataset(data_dir, model.config.vocab_size, block_size)  # files match summary.json, ids fit
model_args = model_args_of(model.config)  # nanoGPT's keys, plus the modern options that are on
model.to(device)
# the config saved in checkpoints and logs; a trained tokenizer's hash rides along
run_config = config
if tokenizer_sha256 is not None:
    run_config = {**config, 'tokenizer_sha256': tokenizer_sha256}

# a GradScaler only for float16; with bf16 or fp32 it is a no-op
scaler = torch.amp.GradScaler(device_type, enabled=(dtype == 'float16' and device_type == 'cuda'))

# notes for a run sized for another machine (nanogpt/advice.py); the run goes on as configured
shape = model.config
for line in run_notes(device_type, gradient_accumulation_steps, batch_size, block_size,
                      shape.n_layer, shape.n_embd, shape.vocab_size, fsdp, ddp, dataset):
    print0(line)
if sharding:  # before the optimizer, which then holds the shards
    model = parallel.shard(model, device_type, dtype, compile)
if optimizer == 'muon' and sharding:
    fail("optimizer='muon' needs whole matrices, which FSDP shards; use DDP (--fsdp=False)")
# the knob `optimizer` names it; from here on, the optimizer itself
optimizer = build_optimizer(model, optimizer, learning_rate, weight_decay, (beta1, beta2),
                            device_type, dtype, muon_lr, muon_momentum)
rng_states = None
if checkpoint is not None:
    # any checkpoint into DDP, FSDP or one process
    parallel.load_state(model, optimizer, checkpoint, sharding)
    if checkpoint.get('scaler'):
        scaler.load_state_dict(checkpoint['scaler'])
    rng_states = checkpoint.get('rng')
checkpoint = None  # free up memory

# Three handles on one set of weights:
#   model        the module itself: saved (no '_orig_mod.' or 'module.' prefix), train()/eval()
#   eval_model   compiled when compile=True, outside DDP: evaluation needs no gradient sync
#   train_model  what the training step runs: eval_model wrapped in DDP under torchrun
eval_model = model
if compile and not sharding:  # FSDP compiled each Block
    print0("compiling the model... (takes a ~minute)")
    eval_model = torch.compile(model)
train_model = eval_model
if ddp and not sharding:
    train_model = DDP(eval_model, device_ids=[local_rank] if device_type == 'cuda' else None)


# -----------------------------------------------------------------------------
# Evaluation, learning rate schedule and checkpoints

@torch.no_grad()
def estimate_loss():
    """Mean loss over eval_iters batches per split, averaged over all processes (each its share)."""
    out = {}
    model.eval()
    for split in ['train', 'val']:
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            if stop_requested():  # a signal: leave now, not after a whole evaluation
                model.train()
                return None
            X, Y = get_batch(split, k=k)  # its own seed: not the training batches' nor torch's RNG
            with ctx:
                _, loss = eval_model(X, Y)
            losses[k] = loss.item()
        mean = losses.mean().to(device)
        if ddp:
            dist.all_reduce(mean)
            mean /= world_size
        out[split] = mean.item()
    model.train()
    return out


def stop_requested():
    """A stop signal on some rank; under DDP all ranks agree, so they leave an evaluation at the
    same batch."""
    if not ddp:
        return stopping.requested()
    flag = torch.tensor(float(stopping.requested()), device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return flag.item() > 0


def get_lr(it):
    """Linear warmup, then cosine decay to min_lr at lr_decay_iters, then min_lr."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # 1 -> 0
    return min_lr + coeff * (learning_rate - min_lr)


def save(reason):
    """Called by every rank (they all hand their random state, and under FSDP their shards, to
    rank 0); rank 0 writes (with sharded_checkpoint, every rank writes its shards)."""
    rng = all_rng_states(device_type)
    print0(f"saving checkpoint to {out_dir} at iter {iter_num} ({reason})")
    state = {
        'model_args': model_args,
        'iter_num': iter_num,
        'best_val_loss': best_val_loss,
        'config': run_config,
        'rng': rng,
        'scaler': scaler.state_dict(),
        'wandb_run_id': wandb_run_id,
        'val_sha256': val_sha256,
    }
    parallel.save(out_dir, model, optimizer, state,
                  sharding,  # fsdp: gather the shards (or write them, see next)
                  sharded_checkpoint,  # every rank writes its shards to out_dir/ckpt.dcp
                  keep_checkpoints,  # also keep out_dir/ckpt-ITER.pt for the last k
                  master_process)  # the one that writes ckpt.pt


# -----------------------------------------------------------------------------
# Logging: wandb (optional) and out_dir/log.jsonl, the run's record (see nanogpt/runlog.py)

if wandb_log and master_process:
    import wandb
    wandb.init(project=wandb_project, name=wandb_run_name, config=run_config, id=wandb_run_id,
               resume='allow', mode=wandb_mode)
    wandb_run_id = wandb.run.id
runlog = None
if master_process:
    val_note = dict(dataset=dataset, previous_dataset=old_dataset, val_changed=True)
    runlog = RunLog(out_dir, run_config, tokens_per_iter,
                    resume_iter=iter_num if start_from == 'resume' else None,  # continue there
                    wandb_log=wandb_log,  # also send each record to wandb
                    resume_note=val_note if val_changed else None,  # a resume on other val data
                    append_only=eval_only)  # an evaluation adds to the log, never restarts it

# -----------------------------------------------------------------------------
# Training loop

running_mfu = -1.0
# MFU only on GPUs: a CPU has no peak to trust (a matmul timed once reads >100% on a loaded machine)
device_peak = None
if device_type == 'cuda':
    device_peak = peak_flops(device_type, getattr(torch, compute_dtype(device_type, dtype)))
if rng_states is not None and not restore_rng(rng_states, rank, world_size, device_type):
    torch.manual_seed(1337 + rank + iter_num)  # another world size: fresh streams, not a replay
    print0(f"the checkpoint's random state is for {len(rng_states)} processes, "
           f"not {world_size}: reseeded")
start_iter = iter_num
plan = SavePlan(always_save_checkpoint, max_iters, start_iter)  # which evaluations and ends save
X, Y = get_batch('train', iter_num * gradient_accumulation_steps)  # first batch
t0 = time.time()
local_iter_num = 0  # iterations in this process's lifetime
stop = False  # a preemption signal reached some rank
flags = stopping.Flags(world_size, device)
nonfinite = False  # a NaN/inf loss or gradient on some rank: stop, checkpoint nothing, exit 3
while True:

    lr = get_lr(iter_num) if decay_lr else learning_rate
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr * param_group.get('lr_scale', 1.0)  # Muon's: muon_lr / learning_rate

    # evaluate on train/val (every process, each its share) and checkpoint
    if iter_num % eval_interval == 0 or eval_only:
        t_eval = time.time()
        losses = estimate_loss()
        if losses is None:  # stopped by a signal: checkpoint below if it trained since the last one
            stop = True
            break
        print0(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        if master_process:
            runlog.eval(iter_num, losses, lr, running_mfu)  # also to wandb when wandb_log
        # every rank has the same (all-reduced) losses, so all of them take the same decision
        improved = losses['val'] < best_val_loss
        best_val_loss = min(best_val_loss, losses['val'])  # only ever the best
        reason = None if eval_only else plan.at_eval(iter_num, improved, losses['val'])
        if reason:
            save(reason)
        t0 += time.time() - t_eval  # time spent evaluating is not training time
    if eval_only or iter_num > max_iters:  # the latter: resumed a finished run
        break

    # forward, backward and update, with gradient accumulation
    loss_sum = torch.zeros((), device=device)
    for micro_step in range(gradient_accumulation_steps):
        last_micro_step = micro_step == gradient_accumulation_steps - 1
        if sharding:  # FSDP reduce-scatters the gradients on the last micro-step only
            train_model.set_requires_gradient_sync(last_micro_step)
        elif ddp:  # DDP syncs them on the last micro-step only
            train_model.require_backward_grad_sync = last_micro_step
        with ctx:
            logits, loss = train_model(X, Y)
            loss = stopping.inject_fault(loss, iter_num, rank)  # test-only, see nanogpt/stopping.py
            loss = loss / gradient_accumulation_steps  # the loss is a mean over micro-steps
        loss_sum += loss.detach()
        # prefetch the next batch while the GPU works
        X, Y = get_batch('train', iter_num * gradient_accumulation_steps + micro_step + 1)
        scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    max_norm = grad_clip if grad_clip != 0.0 else float('inf')  # inf: no clip, norm checked
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    grad_norm = parallel.local(grad_norm)  # under FSDP a DTensor, the norm over every rank's shards

    # A NaN/inf on any rank skips this and every later update on the device; a signal on any
    # rank stops all ranks after the same step. The host learns of either a step later (or at a
    # sync point).
    flags.update(loss_sum, grad_norm,
                 check_grad=not scaler.is_enabled(),  # a GradScaler handles inf gradients itself
                 rank=rank, iter_num=iter_num)
    stopping.optimizer_step(optimizer, scaler, flags.skip())
    optimizer.zero_grad(set_to_none=True)
    # a sync point: the next log line, evaluation and checkpoint, or the end waits for the device
    at_sync_point = (iter_num % log_interval == 0 or (iter_num + 1) % eval_interval == 0
                     or iter_num + 1 > max_iters)
    agreed = flags.read(late=not at_sync_point)
    if agreed and agreed.stop and not at_sync_point:  # a signal: the checkpoint needs this step
        agreed = flags.read(late=False)
    if agreed and (agreed.bad_ranks or agreed.bad_grad):
        stopping.report_nonfinite(agreed.iter_num, rank, agreed.bad_ranks)
        nonfinite = True
        break
    if agreed and agreed.stop:
        stop = True

    t1 = time.time()
    dt = t1 - t0
    t0 = t1
    if iter_num % log_interval == 0 and master_process:
        lossf = loss_sum.item()  # mean over the micro-steps; a CPU-GPU sync point
        if local_iter_num >= 5 and device_peak:  # let the training loop settle a bit
            mfu = model.estimate_mfu(batch_size * gradient_accumulation_steps, dt, device_peak)
            running_mfu = mfu if running_mfu == -1.0 else 0.9 * running_mfu + 0.1 * mfu
        print(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms"
              + (f", mfu {running_mfu * 100:.2f}%" if device_peak else ''))
        runlog.train(iter_num, lossf, lr, dt, running_mfu)
    iter_num += 1
    local_iter_num += 1

    if iter_num > max_iters or stop:
        break

# -----------------------------------------------------------------------------
# The end: a final checkpoint, then every process leaves together

if local_iter_num > 0 and not nonfinite:  # also when preempted (exit 0: the restart resumes)
    reason, kept = plan.at_end(stop, out_dir)  # a keep-best run keeps its best, and says so
    if reason:
        save(reason)
    elif kept:
        print0(kept)
if ddp:
    dist.barrier()  # nobody leaves while rank 0 still writes
    # Then leave without tearing down the process group. A gloo thread may still be releasing a
    # finished all_gather's tensors, which needs the GIL: destroying the group from Python (it joins
    # that thread holding the GIL) deadlocked, and Python's own teardown aborted. All is written.
    if wandb_log and master_process:
        import wandb
        wandb.finish()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(stopping.NONFINITE_EXIT if nonfinite else 0)
if nonfinite:
    sys.exit(stopping.NONFINITE_EXIT)
