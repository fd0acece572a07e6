# The character-level shakespeare model sized for a laptop CPU (about 2 minutes on 2 cores):
# python train.py config/train_shakespeare_char.py config/train_shakespeare_char_cpu.py
# The reference's CPU recipe; reaches a val loss of about 1.88 after 2000 iterations.

device = 'cpu'
compile = False
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
