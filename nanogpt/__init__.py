"""
The machinery the scripts at the top share. Each module holds one thing:

    errors       fail(): the one way a bad input ends (one `error: ...` line, exit 2), and warnings
    atomicfile   writing a file so that it is either whole or absent
    localdata    NANOGPT_LOCAL_DATA: local copies of downloads, and fetching a file once
    device       device and dtype checks, autocast, and the peak flop/s that MFU divides by
    tokenizer    GPT-2 BPE (tiktoken) and character tokenizers, and which one a dataset uses
    dataset      the dataset format: .bin token files, meta.pkl, summary.json, and their checks
    corpus       reading documents from local corpus files
    prepare      writing datasets: the resumable sharded route and the Hugging Face route
    checkpoint   ckpt.pt: atomic saves, loading, building the model, GPT-2 weights, random states
    runlog       out_dir/log.jsonl, the run's record
    stopping     stopping a run safely: preemption signals, non-finite losses, fault injection for tests
    lock         one writer per folder: an flock the kernel drops when its process dies
"""
