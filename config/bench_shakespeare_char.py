# The default shakespeare_char model (config/train_shakespeare_char.py: 6 layers, 6 heads, 384 wide, block 256).
# Sampling speed with and without the KV cache: python bench.py config/bench_shakespeare_char.py --mode=sample
dataset = 'shakespeare_char'
n_layer = 6
n_head = 6
n_embd = 384
block_size = 256
batch_size = 64
