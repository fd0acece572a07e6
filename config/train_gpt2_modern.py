# GPT-2 124M's modern twin (docs/modern.md):
# torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py config/train_gpt2_modern.py
# The same 12 x 768 model and ~0.5M-token batches, with rotary positions, QK-norm, a ReLU^2 MLP, an untied
# zero-initialised head and softcapped logits, trained by Muon (bfloat16 Newton-Schulz) for the blocks'
# matrices and AdamW for embeddings, head and gains. modded-nanogpt reaches GPT-2's loss in well under a
# tenth of the reference's tokens with these and more; this schedule is 5B tokens, a sixtieth of the
# reference's 300B. Muon needs whole matrices: DDP, not FSDP.
out_dir = 'out-gpt2-modern'
wandb_run_name = 'gpt2-124M-modern'
rope = True
qk_norm = True
relu2 = True
untied_head = True
zero_init = True
logit_softcap = 15.0
optimizer = 'muon'
muon_lr = 0.02
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 200
max_iters = 10000
lr_decay_iters = 10000
