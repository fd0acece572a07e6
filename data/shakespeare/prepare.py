"""
Tiny shakespeare with GPT-2 BPE (tiktoken encode_ordinary), first 90% train: 301,966 / 36,059 tokens.
Offline: NANOGPT_LOCAL_DATA=path/to/folder python data/shakespeare/prepare.py
"""
import argparse
import os

from nanogpt.dataset import write_bin, write_summary
from nanogpt.localdata import fetch_text
from nanogpt.lock import hold
from nanogpt.tokenizer import GPT2_VOCAB, gpt2_encoding
from nanogpt.errors import exit_on_bad_input

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
here = os.path.dirname(os.path.abspath(__file__))
hold(here, 'prepare.py')  # one writer per dataset folder
data = fetch_text(os.path.join(here, 'input.txt'),
                  'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt',
                  'tinyshakespeare/input.txt')
n = len(data)
train_data, val_data = data[:int(n * 0.9)], data[int(n * 0.9):]

enc = gpt2_encoding()
n_train = write_bin(os.path.join(here, 'train.bin'), enc.encode_ordinary(train_data), GPT2_VOCAB)
n_val = write_bin(os.path.join(here, 'val.bin'), enc.encode_ordinary(val_data), GPT2_VOCAB)
print(f"train has {n_train:,} tokens")
print(f"val has {n_val:,} tokens")
write_summary(here, 'gpt2', GPT2_VOCAB, documents=1, characters=n, split='first 90% of the characters')
