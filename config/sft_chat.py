# chat finetuning (SFT) of GPT-2 on conversations; see docs/chat.md. Prepare the data first, e.g.
#   python data/prepare_chat.py ../shared/data/chat/chatterbot_en.jsonl --out_dir=data/chat_en --block_size=512
# then python train.py config/sft_chat.py, and python chat.py --out_dir=out-chat.
# init_from may also be a local GPT-2 folder (save_pretrained) or a pretraining run's out_dir (its ckpt.pt's weights).
out_dir = 'out-chat'
eval_interval = 100
eval_iters = 20  # batches of whole conversations; val loss = the mean over assistant tokens
log_interval = 10
always_save_checkpoint = False  # keep the checkpoint with the best val loss (the end of training keeps it too)

dataset = 'chat_en'
init_from = 'gpt2'

# a batch is batch_size conversations, each cut to block_size + 1 tokens at prepare time and padded
block_size = 512
batch_size = 8
gradient_accumulation_steps = 4
max_iters = 1000

# finetuning: a small constant learning rate, some dropout
learning_rate = 3e-5
decay_lr = False
dropout = 0.1
