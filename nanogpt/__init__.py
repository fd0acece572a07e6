"""
The machinery the scripts at the top share. Each module holds one thing:

    errors       fail(): the one way a bad input ends (one `error: ...` line, exit 2), and warnings
    atomicfile   writing a file so that it is either whole or absent
    lock         one writer per folder: an flock the kernel drops when its process dies
    localdata    NANOGPT_LOCAL_DATA: local copies of downloads, and fetching a file once
    device       device and dtype checks, autocast, and the peak flop/s that MFU divides by
    tokenizer    GPT-2 BPE (tiktoken), character and trained (tokenizer.json) tokenizers; which one a dataset uses
    dataset      the dataset format: .bin token files, meta.pkl, summary.json, and their checks
    corpus       reading documents from local corpus files (.txt, .jsonl(.gz/.zst), .json.gz, .parquet, .tar)
    prepare      writing datasets: the resumable sharded route and the Hugging Face route
    chat         the chat template and its loss mask, conversation files, chat batches, answering
    checkpoint   ckpt.pt: atomic saves, loading, building the model, GPT-2 weights, random states
    parallel     FSDP2 sharding for train.py, and its full or sharded checkpoints
    resume       what --init_from=resume continues and what starts over (another dataset)
    runlog       out_dir/log.jsonl, the run's record
    stopping     stopping a run safely: preemption signals, non-finite flags kept on the device, test faults
    sampling     the sampling knobs sample.py and chat.py share
"""
