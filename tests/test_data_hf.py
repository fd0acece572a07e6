"""The Hugging Face route of data/openwebtext*/prepare.py, on local parquet files (the hub is unreachable here)."""
import numpy as np

from harness import SHARED, run

EOT = 50256


def test_openwebtext_route_on_local_parquet(tmp_path):
    from datasets import Dataset, load_dataset

    from nanogpt.tokenizer import gpt2_encoding
    text = open(f'{SHARED}/tinyshakespeare/input.txt', encoding='utf-8').read()
    docs = [text[i:i + 1500] for i in range(0, 6000 * 1500 // 2, 1500)][:2000]
    Dataset.from_dict({'text': docs, 'url': ['u'] * len(docs)}).to_parquet(str(tmp_path / 'owt.parquet'))
    env = {'HF_DATASETS_CACHE': str(tmp_path / 'cache'), 'HF_HUB_OFFLINE': '1'}
    out = tmp_path / 'owt'
    run(['data/openwebtext/prepare.py', '--data_files', tmp_path / 'owt.parquet', f'--out_dir={out}',
         '--num_proc=2'], env=env)
    # what the reference does: 0.05% val with seed 2357, each document's encode_ordinary then EOT
    ds = load_dataset('parquet', data_files=str(tmp_path / 'owt.parquet'), split='train', cache_dir=str(tmp_path / 'c2'))
    split = ds.train_test_split(test_size=0.0005, seed=2357, shuffle=True)
    enc = gpt2_encoding()
    for name, part in (('train', split['train']), ('val', split['test'])):
        want = [i for t in part['text'] for i in enc.encode_ordinary(t) + [EOT]]
        assert np.fromfile(out / f'{name}.bin', dtype=np.uint16).tolist() == want
    assert len(split["test"]) == 1


def test_hub_unreachable_is_a_clear_error(tmp_path):
    r = run(['data/openwebtext-10k/prepare.py', f'--out_dir={tmp_path}'], expect=None,
            env={'HF_HUB_OFFLINE': '1', 'HF_DATASETS_CACHE': str(tmp_path / 'cache')})
    assert r.returncode == 2 and 'could not load' in r.stderr and '--data_files' in r.stderr
    assert not (tmp_path / 'train.bin').exists()
