# evaluate the base gpt2 (12 layers, 12 heads, 768 wide) on OpenWebText
batch_size = 8
eval_iters = 500  # use more iterations to get good estimate
eval_only = True
wandb_log = False
init_from = 'gpt2'
