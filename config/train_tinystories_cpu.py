# config/train_tinystories.py sized for a laptop CPU: the same data/tinystories (GPT-2 BPE), a small model.
# $ python data/tinystories/prepare.py --stories=100000     # the first 100k stories are plenty for this model
# $ python train.py config/train_tinystories_cpu.py
# $ python sample.py --out_dir=out-tinystories-cpu --device=cpu --start="Once upon a time"
# GPT-2 BPE's 50,304-wide output layer is ~90% of this model's compute (the start-up note says so): the run
# is slower per token than the Chinese or character CPU recipes, whose vocabularies are small. Measured on a
# 2-core Xeon busy with other work (load 5-6, OMP_NUM_THREADS=1): ~1 s per iteration, ~17 minutes in all.
# On a machine busy with other work, OMP_NUM_THREADS=1 python train.py ... is much faster than a thread per core.
import torch

dataset = 'tinystories'
out_dir = 'out-tinystories-cpu'
always_save_checkpoint = False  # keep the best, as the GPU recipe

device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False  # compiling takes longer on a CPU than it saves in a run this short

n_layer = 4
n_head = 4
n_embd = 128
block_size = 128
dropout = 0.0

batch_size = 4
gradient_accumulation_steps = 1  # 512 tokens per iteration

max_iters = 1000
lr_decay_iters = 1000
learning_rate = 2e-3
min_lr = 2e-4
beta2 = 0.99
warmup_iters = 50

eval_interval = 250
eval_iters = 20
log_interval = 50
