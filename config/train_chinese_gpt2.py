# GPT-2 small (124M) for Chinese, on a byte-level BPE tokenizer trained on the corpus itself
# (data/train_tokenizer.py): about 0.5-0.7 tokens per character where GPT-2's BPE spends 2-2.3, so a
# 1024-token context holds ~3x more text and each character costs ~3x less compute. See docs/tokenizers.md.
#
# The corpora this recipe is meant for (gigabytes each, prepared locally, any mix):
#   - news (e.g. a Chinese news crawl, JSON lines with a text field)
#   - zhihu answers (question and answer fields: --key=问,答 style joins, or the answer field alone)
#   - the MNBVC web crawl (.jsonl.zst records {"文件名", "段落": [{"行号", "内容"}]}: --key=段落.内容)
#   - C4's Chinese part / multilingual C4 (.json.gz, field text)
#
# $ python data/train_tokenizer.py corpus/news corpus/zhihu corpus/mnbvc --key=text --vocab_size=32000 \
#       --max_chars=2e8 --sample=0.05 --out_dir=tok/zh32k
# $ python data/prepare_local.py corpus/news corpus/c4 --tokenizer=tok/zh32k/tokenizer.json --out_dir=data/zh
# $ python data/prepare_local.py corpus/mnbvc --key=段落.内容 --skip_bad --append \
#       --tokenizer=data/zh/tokenizer.json --out_dir=data/zh
# $ torchrun --standalone --nproc_per_node=8 train.py config/train_chinese_gpt2.py
#
# On a CPU: config/train_chinese_cpu.py, the same route at a size that trains in minutes.
#
# train.py reads the vocabulary from data/zh/summary.json (32,000 ids, padded to 32,000 = 500 * 64) and
# records the tokenizer's sha256 in the checkpoint; sample.py and eval.py decode with data/zh/tokenizer.json
# and refuse to run if it is missing or another file.

dataset = 'zh'  # the README's route: prepare_local.py ... --out_dir=data/zh
out_dir = 'out-chinese-gpt2'
init_from = 'auto'  # resume after a restart

wandb_log = False
wandb_project = 'chinese-gpt2'
wandb_run_name = 'gpt2-124M-zh32k'

# GPT-2 small
n_layer = 12
n_head = 12
n_embd = 768
block_size = 1024
dropout = 0.0
bias = False

# ~0.5M tokens per iteration: 12 batch * 1024 block * 5 accumulation * 8 GPUs = 491,520
batch_size = 12
gradient_accumulation_steps = 5 * 8

# ~10B tokens (~15-20B characters at 0.5-0.7 tokens each); fewer for a smaller corpus, e.g. 2 epochs of it
max_iters = 20000
lr_decay_iters = 20000
learning_rate = 6e-4
min_lr = 6e-5
warmup_iters = 700
weight_decay = 1e-1

eval_interval = 1000
eval_iters = 200
log_interval = 10
