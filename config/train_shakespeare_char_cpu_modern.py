# The CPU quick start's modern twin: nanoGPT's loss in a fraction of its time (docs/modern.md).
# python train.py config/train_shakespeare_char.py config/train_shakespeare_char_cpu_modern.py
# The same small model, with rotary positions, QK-norm, a ReLU^2 MLP, an untied zero-initialised head and
# softcapped logits, trained by Muon (AdamW for embeddings and gains): 270 iterations against the faithful 2000.
import torch

out_dir = 'out-shakespeare-char-modern'
device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False
eval_iters = 5  # the printed estimate only: eval.py measures the whole val split
log_interval = 10
block_size = 64
batch_size = 12
n_layer = 4
n_head = 4
n_embd = 128
dropout = 0.0
rope = True
qk_norm = True
relu2 = True
untied_head = True
zero_init = True
logit_softcap = 15.0
optimizer = 'muon'
muon_lr = 0.01
muon_momentum = 0.9
learning_rate = 1e-2  # AdamW's, for the embeddings, head and gains
min_lr = 1e-3
max_iters = 270
lr_decay_iters = 270
warmup_iters = 10
eval_interval = 270  # evaluate at the start and the end only
