# evaluate the base gpt2-large (36 layers, 20 heads, 1280 wide) on OpenWebText
batch_size = 8
eval_iters = 500  # use more iterations to get good estimate
eval_only = True
wandb_log = False
init_from = 'gpt2-large'
