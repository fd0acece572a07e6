"""Start-up notes for runs whose settings fit another machine: a newcomer's run that is slow for a reason the
numbers alone do not show. Notes only: the run goes on exactly as configured."""
import os


def run_notes(device_type, gradient_accumulation_steps, batch_size, block_size, n_layer, n_embd, vocab_size,
              fsdp, ddp, dataset='NAME'):
    """The lines to print before training (each begins with 'note:')."""
    notes = []
    blocks = 12 * n_layer * n_embd ** 2  # the parameters of the transformer blocks (GPT-2 small: 85M)
    if device_type == 'cpu' and blocks >= 20e6:
        notes.append(f"note: this model has {blocks / 1e6:.0f}M parameters in its blocks (GPT-2 small: 85M), a size "
                     f"for GPUs; on a CPU each iteration takes seconds to minutes. CPU-sized recipes: "
                     f"config/train_chinese_cpu.py (a trained tokenizer), config/train_tinystories_cpu.py (GPT-2 "
                     f"BPE), config/train_shakespeare_char.py config/train_shakespeare_char_cpu.py (characters); "
                     f"e.g. python train.py config/train_chinese_cpu.py --dataset={dataset}")
    if device_type == 'cpu' and gradient_accumulation_steps > 4:
        notes.append(f"note: each iteration is {gradient_accumulation_steps} micro-steps of {batch_size} x "
                     f"{block_size} tokens (gradient_accumulation_steps={gradient_accumulation_steps}, nanoGPT's "
                     f"setting for GPT-2 on 8 GPUs); on a CPU a small run wants --gradient_accumulation_steps=1, "
                     f"as the shakespeare_char recipes have")
    # per token, the blocks cost about 12 * n_layer * n_embd**2 multiply-adds and the output layer vocab * n_embd
    head = vocab_size * n_embd / (vocab_size * n_embd + 12 * n_layer * n_embd ** 2)
    if device_type == 'cpu' and head > 0.5:
        notes.append(f"note: the {vocab_size:,}-wide output layer is {head:.0%} of the model's compute; a small "
                     f"model trains much faster on a small vocabulary (characters, or a tokenizer trained with "
                     f"data/train_tokenizer.py, see docs/tokenizers.md)")
    notes += busy_cpu_notes(device_type, 'train.py')
    if fsdp and not ddp:
        notes.append("note: --fsdp=True needs torchrun (several processes to shard over); this one process "
                     "trains without it")
    elif fsdp:
        notes.append("FSDP: on (weights, gradients and optimizer state sharded across the ranks)")
    return notes


def busy_cpu_notes(device_type, script, load=None, cores=None, threads=None, env=os.environ):
    """A note when the CPU is busy with other work and torch runs a thread per core: its threads then wait on
    each other (for a descheduled one) at every operation, and one thread is several times faster
    (docs/speed.md). load, cores, threads: the machine's own unless given (tests)."""
    import torch
    if device_type != 'cpu' or 'OMP_NUM_THREADS' in env:
        return []
    load = os.getloadavg()[0] if load is None else load
    cores = os.cpu_count() if cores is None else cores
    threads = torch.get_num_threads() if threads is None else threads
    if threads < 2 or load < cores:
        return []
    return [f"note: this machine is busy (load average {load:.1f} on {cores} cores) and torch runs {threads} "
            f"threads, which then wait on each other at every operation; OMP_NUM_THREADS=1 python {script} ... "
            f"is often several times faster here (docs/speed.md)"]
