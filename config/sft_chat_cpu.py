# The chat route of config/sft_chat.py sized for a laptop CPU: no GPT-2 to finetune (124M is too slow here),
# a tiny model trained from scratch on the conversations with a small trained tokenizer. It learns the
# training answers by heart (docs/chat.md, "a tiny chat model from scratch on the CPU"):
# $ python data/train_tokenizer.py ../shared/data/chat/chatterbot_en.jsonl --key=messages.content \
#       --vocab_size=2048 --out_dir=tok/chat_en2k
# $ python data/prepare_chat.py ../shared/data/chat/chatterbot_en.jsonl --tokenizer=tok/chat_en2k/tokenizer.json \
#       --block_size=128 --out_dir=data/chat_en_cpu
# $ python train.py config/sft_chat_cpu.py
# $ python chat.py --out_dir=out-chat-cpu --device=cpu --temperature=0 --prompt="What is AI?"
# On a machine busy with other work, OMP_NUM_THREADS=1 python train.py ... is much faster than a thread per core.
# Measured so on a 2-core Xeon (load 5-6): 10-15.5 min, train loss 0.016, eval.py --split=train --max_answers=100:
# 100/100 exact greedy answers; held-out val loss 7.8 (it memorises, as said above).
import torch

dataset = 'chat_en_cpu'
out_dir = 'out-chat-cpu'
init_from = 'scratch'
# a model this small memorises its corpus: its held-out loss rises while its answers to the training
# questions become exact, so the last checkpoint is the one to keep, not the best val loss
always_save_checkpoint = True

device = 'cpu'
dtype = 'bfloat16' if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else 'float32'
compile = False

n_layer = 4
n_head = 4
n_embd = 128
block_size = 128  # as prepared (--block_size=128)
dropout = 0.0

batch_size = 32  # conversations per batch, padded
gradient_accumulation_steps = 1

max_iters = 2000
lr_decay_iters = 2000
learning_rate = 3e-3
min_lr = 1e-4
warmup_iters = 50

eval_interval = 500
eval_iters = 10
log_interval = 50
