"""
Tiny shakespeare as characters: vocab = the text's sorted unique characters (65), first 90% train.
Writes train.bin, val.bin (uint16), meta.pkl ({vocab_size, itos, stoi, dtype}) and summary.json beside this script.
Offline: NANOGPT_LOCAL_DATA=path/to/folder python data/shakespeare_char/prepare.py
"""
import argparse
import os

from nanogpt.dataset import char_meta, write_bin, write_meta, write_summary
from nanogpt.localdata import fetch_text
from nanogpt.lock import hold
from nanogpt.errors import exit_on_bad_input

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
here = os.path.dirname(os.path.abspath(__file__))
hold(here, 'prepare.py')  # one writer per dataset folder
data = fetch_text(os.path.join(here, 'input.txt'),
                  'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt',
                  'tinyshakespeare/input.txt')
print(f"length of dataset in characters: {len(data):,}")

chars = sorted(set(data))
vocab_size = len(chars)
print("all the unique characters:", ''.join(chars))
print(f"vocab size: {vocab_size:,}")
meta = char_meta(chars)
stoi = meta['stoi']

n = len(data)
train_data, val_data = data[:int(n * 0.9)], data[int(n * 0.9):]
n_train = write_bin(os.path.join(here, 'train.bin'), [stoi[c] for c in train_data], vocab_size)
n_val = write_bin(os.path.join(here, 'val.bin'), [stoi[c] for c in val_data], vocab_size)
write_meta(here, meta)
print(f"train has {n_train:,} tokens")
print(f"val has {n_val:,} tokens")
write_summary(here, 'char', vocab_size, documents=1, characters=n, split='first 90% of the characters')
