"""Start-up notes for runs whose settings fit another machine: a newcomer's run that is slow for a reason the
numbers alone do not show. Notes only: the run goes on exactly as configured."""


def run_notes(device_type, gradient_accumulation_steps, batch_size, block_size, n_layer, n_embd, vocab_size,
              fsdp, ddp):
    """The lines to print before training (each begins with 'note:')."""
    notes = []
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
    if fsdp and not ddp:
        notes.append("note: --fsdp=True needs torchrun (several processes to shard over); this one process "
                     "trains without it")
    elif fsdp:
        notes.append("FSDP: on (weights, gradients and optimizer state sharded across the ranks)")
    return notes
