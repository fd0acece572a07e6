# The GPU shakespeare_char recipe's modern twin (docs/modern.md):
# python train.py config/train_shakespeare_char.py config/train_shakespeare_char_modern.py
# Rotary positions, QK-norm, a ReLU^2 MLP, an untied zero-initialised head and softcapped logits, trained by
# Muon (its Newton-Schulz iteration in bfloat16 on the GPU) with AdamW for embeddings, head and gains, for
# fewer iterations than the reference's 5000. tools/gpu_speed_check.sh's `modern` section times both recipes
# to val 1.47 side by side.
out_dir = 'out-shakespeare-char-modern'
rope = True
qk_norm = True
relu2 = True
untied_head = True
zero_init = True
logit_softcap = 15.0
optimizer = 'muon'
muon_lr = 0.02
learning_rate = 3e-3  # AdamW's, for the embeddings, head and gains
min_lr = 3e-4
max_iters = 2500
lr_decay_iters = 2500
warmup_iters = 50
