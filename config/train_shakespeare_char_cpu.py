# The character-level shakespeare model sized for a laptop CPU (about 2 minutes on 2 cores):
# python train.py config/train_shakespeare_char.py config/train_shakespeare_char_cpu.py
# The reference's CPU recipe (val loss about 1.88 after 2000 iterations), made faster: bf16 autocast where the
# CPU computes bf16 natively (AVX512-BF16 or AMX, see `lscpu | grep bf16`), fp32 elsewhere. docs/speed.md.
import torch

device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False  # compiling takes longer on a CPU than the 2000 iterations it would speed up
eval_iters = 20
log_interval = 10
block_size = 64
batch_size = 12
n_layer = 4
n_head = 4
n_embd = 128
max_iters = 2000
lr_decay_iters = 2000
dropout = 0.0
