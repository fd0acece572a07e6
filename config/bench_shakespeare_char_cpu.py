# The CPU recipe's training step (config/train_shakespeare_char_cpu.py): the reference's fp32 and bf16 autocast,
# in turns on real batches. python bench.py config/bench_shakespeare_char_cpu.py
device = 'cpu'
dtype = 'float32,bfloat16'
dataset = 'shakespeare_char'
n_layer = 4
n_head = 4
n_embd = 128
block_size = 64
batch_size = 12
rounds = 10
iters_per_round = 30
