# evaluate the base gpt2-medium (24 layers, 16 heads, 1024 wide) on OpenWebText
batch_size = 8
eval_iters = 500  # use more iterations to get good estimate
eval_only = True
wandb_log = False
init_from = 'gpt2-medium'
