# TinyStories with GPT-2 BPE, the small model users train on one 12 GB GPU:
# python data/tinystories/prepare.py && python train.py config/train_tinystories.py

out_dir = 'out-tinystories'
eval_interval = 500
eval_iters = 100
log_interval = 10
always_save_checkpoint = False

wandb_log = False
wandb_project = 'tinystories'
wandb_run_name = 'mini-gpt'

dataset = 'tinystories'
gradient_accumulation_steps = 1
batch_size = 32
block_size = 256

n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2

learning_rate = 1e-3
max_iters = 20000
lr_decay_iters = 20000
min_lr = 1e-4
beta2 = 0.99
warmup_iters = 200
