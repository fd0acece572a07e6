# The character-level shakespeare model sized for a laptop CPU (a few minutes on 2 cores):
# python train.py config/train_shakespeare_char.py config/train_shakespeare_char_cpu.py
# The reference's CPU recipe (val loss about 1.89 after 2000 iterations) made faster and better (docs/speed.md):
# bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX: `lscpu | grep bf16`), fp32 elsewhere,
# and twice the reference's learning rate, which this short run affords (bf16 alone costs ~0.01 of val loss).
# On a machine busy with other work, OMP_NUM_THREADS=1 is much faster than a thread per core.
import torch

device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False  # compiling takes longer on a CPU than the ~5-9% it saves over 2000 iterations
eval_iters = 20
log_interval = 10
block_size = 64
batch_size = 12
n_layer = 4
n_head = 4
n_embd = 128
max_iters = 2000
lr_decay_iters = 2000
learning_rate = 2e-3
min_lr = 2e-4
dropout = 0.0
