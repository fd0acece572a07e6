# evaluate the base gpt2-xl (48 layers, 25 heads, 1600 wide) on OpenWebText
batch_size = 8
eval_iters = 500  # use more iterations to get good estimate
eval_only = True
wandb_log = False
init_from = 'gpt2-xl'
