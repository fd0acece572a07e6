# A character-level model of the Tang poems that trains on a laptop CPU in a few minutes:
# python data/tang_poems/prepare.py && python train.py config/train_tang_poems.py
# python sample.py --out_dir=out-tang-poems --device=cpu --start="春"
# Measured on a 2-core machine shared with other jobs (OMP_NUM_THREADS=1): ~0.4 s/iter, val loss 5.46 at 1000.

out_dir = 'out-tang-poems'
dataset = 'tang_poems'
device = 'cpu'
compile = False
eval_interval = 250
eval_iters = 20
log_interval = 50
always_save_checkpoint = False

gradient_accumulation_steps = 1
batch_size = 12
block_size = 64  # a quatrain with its title is about 40 characters

n_layer = 4
n_head = 4
n_embd = 128
dropout = 0.0

learning_rate = 1e-3
max_iters = 1000
lr_decay_iters = 1000
min_lr = 1e-4
beta2 = 0.99
warmup_iters = 100
