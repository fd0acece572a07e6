# The Chinese route of config/train_chinese_gpt2.py sized for a laptop CPU (minutes on 2 cores): the same
# data/zh, a small model on a small trained vocabulary. The README's CPU route, on the reviews in ../shared/data:
# $ python data/train_tokenizer.py ../shared/data/zh_reviews/reviews.jsonl --vocab_size=2048 --out_dir=tok/zh2k
# $ python data/prepare_local.py ../shared/data/zh_reviews/reviews.jsonl --tokenizer=tok/zh2k/tokenizer.json \
#       --out_dir=data/zh
# $ python train.py config/train_chinese_cpu.py
# $ python sample.py --out_dir=out-chinese-cpu --device=cpu --start="这本书"
# A vocabulary of 2,048 costs ~0.86 tokens per character of the reviews (GPT-2 BPE: 2.0) and keeps the output
# layer a quarter of the model's compute; 32k ids would make it most of it. Another dataset: --dataset=NAME.
# On a machine busy with other work, OMP_NUM_THREADS=1 python train.py ... is much faster than a thread per core.
# Measured so on a 2-core Xeon (load 4-6): 5 min 46 s, val loss 4.97 per token (~4.3 nats per character).
import torch

dataset = 'zh'
out_dir = 'out-chinese-cpu'
init_from = 'auto'  # resume after a restart, as the GPU recipe

device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False  # compiling takes longer on a CPU than it saves in a run this short

n_layer = 4
n_head = 4
n_embd = 128
block_size = 128
dropout = 0.0
bias = False

batch_size = 8
gradient_accumulation_steps = 1  # 1,024 tokens per iteration

max_iters = 2000
lr_decay_iters = 2000
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 100
weight_decay = 1e-1

eval_interval = 250
eval_iters = 20
log_interval = 50
