#!/usr/bin/env bash
# Every GPU figure of issue 14, ours and nanoGPT's, on one machine in one run; prints a summary at the end.
#
#   tools/gpu_speed_check.sh NANOGPT_DIR [SECTION ...]
#
# NANOGPT_DIR: a checkout of karpathy/nanoGPT (a session gets one with its `fetch` tool). SECTIONs, in the
# order given (default: train recipe sample, the figures the issue must show; ideas is extra):
#   train   GPT-2 124M training step, batch 12 and 48 x 1024, bf16, compile: our bench.py and nanoGPT's
#   recipe  the shakespeare_char GPU recipe (6/384, ITERS iterations, default 5000), ours and nanoGPT's at
#           once on the one GPU, as the issue measured it: median ms/iter of the logged iterations, best val
#   sample  GPT-2 124M random weights, 500 new tokens from a 1-token prompt: nanoGPT's generate at batch 1,
#           and our bench.py's uncached vs static-KV-cache + CUDA-graph decode at batch 1, 4, 16, 64
#   ideas   each training idea alone, GPT-2 124M: micro-batch 8/16/24/32, attention kernel flash/cudnn/
#           mem_efficient, the lm_head + loss in chunks of 2048 / 8192 positions (never all B x T x 50304
#           logits), compile mode max-autotune-no-cudagraphs
#   modern  the faithful recipes against their modern twins (docs/modern.md), one after the other: seconds from
#           the first evaluation to the first val <= 1.47 for shakespeare_char (eval every 100 iterations), and
#           GPT-2 124M for STEPS steps (default 300): tokens per second and the loss at the end
# Needs data/shakespeare_char prepared (recipe): carry it from a checkout where
# `python data/shakespeare_char/prepare.py` ran. Everything is logged under OUT (default $OUT or ./gpu-speed).
# Budget: train ~4 min, recipe ~3 min, sample ~3 min, ideas ~8 min on an H100 (mostly compilation).
set -u
NANOGPT=$(cd "${1:?usage: tools/gpu_speed_check.sh NANOGPT_DIR [train recipe sample ideas]}" && pwd)
shift
SECTIONS=${*:-train recipe sample}
OURS=$(cd "$(dirname "$0")/.." && pwd)
LOGS=${OUT:-$OURS/gpu-speed}
ITERS=${ITERS:-5000}
STEPS=${STEPS:-300}
mkdir -p "$LOGS"
SUMMARY=$LOGS/summary.txt
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

say "device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
say "torch $(python -c 'import torch; print(torch.__version__)'), ours at $(git -C "$OURS" rev-parse --short HEAD 2>/dev/null || echo '?'), nanoGPT at $(git -C "$NANOGPT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "date: $(date -u +%FT%TZ)"

ours_bench() {  # name, args...: our bench.py; its result lines go to the summary
    local name=$1; shift
    (cd "$OURS" && python bench.py "$@") > "$LOGS/$name.log" 2>&1 || say "$name: FAILED (see $LOGS/$name.log)"
    grep -E '^(train|sample) ' "$LOGS/$name.log" | sed "s/^/$name: /" | tee -a "$SUMMARY"
}

nanogpt_bench() {  # name, batch size: nanoGPT's bench.py on random tokens
    local name=$1 b=$2
    (cd "$NANOGPT" && python bench.py --real_data=False --batch_size="$b" --compile=True --dtype=bfloat16) \
        > "$LOGS/$name.log" 2>&1 || say "$name: FAILED (see $LOGS/$name.log)"
    say "$name: $(grep -E 'time per iteration' "$LOGS/$name.log" | tail -1)"
}

median_ms() {  # log file: median of "iter N: ... time X ms" past the first 50 iterations (compilation), best val
    python - "$1" <<'EOF'
import re, statistics, sys
text = open(sys.argv[1]).read()
ms = [float(t) for i, t in re.findall(r'^iter (\d+): loss [\d.]+, time ([\d.]+)ms', text, re.M) if int(i) > 50]
val = [float(v) for v in re.findall(r'^step \d+: train loss [\d.]+, val loss ([\d.]+)', text, re.M)]
print(f"median {statistics.median(ms):.2f} ms/iter over {len(ms)} logged iterations, best val {min(val):.4f}"
      if ms and val else "no iterations logged")
EOF
}

for section in $SECTIONS; do
    case $section in
    train)
        for b in 12 48; do
            ours_bench train-ours-b$b --batch_size=$b
            nanogpt_bench train-nanogpt-b$b $b
        done ;;
    recipe)
        [ -f "$NANOGPT/data/shakespeare_char/train.bin" ] ||
            cp "$OURS"/data/shakespeare_char/{train.bin,val.bin,meta.pkl} "$NANOGPT/data/shakespeare_char/"
        recipe=(config/train_shakespeare_char.py --max_iters="$ITERS" --lr_decay_iters="$ITERS")
        (cd "$OURS" && python train.py "${recipe[@]}" --out_dir="$LOGS/out-recipe-ours" --overwrite_checkpoint=True) \
            > "$LOGS/recipe-ours.log" 2>&1 &
        ours_pid=$!
        (cd "$NANOGPT" && python train.py "${recipe[@]}" --out_dir="$LOGS/out-recipe-nanogpt") \
            > "$LOGS/recipe-nanogpt.log" 2>&1 &
        nano_pid=$!
        wait $ours_pid || say "recipe-ours: FAILED (see $LOGS/recipe-ours.log)"
        wait $nano_pid || say "recipe-nanogpt: FAILED (see $LOGS/recipe-nanogpt.log)"
        say "recipe-ours ($ITERS iters, both at once): $(median_ms "$LOGS/recipe-ours.log")"
        say "recipe-nanogpt ($ITERS iters, both at once): $(median_ms "$LOGS/recipe-nanogpt.log")" ;;
    sample)
        (cd "$NANOGPT" && python - <<'EOF') > "$LOGS/sample-nanogpt.log" 2>&1 || say "sample-nanogpt: FAILED"
import time, torch
from model import GPT, GPTConfig
torch.manual_seed(1337)
m = GPT(GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, bias=False)).cuda().eval()
idx = torch.randint(50304, (1, 1), device='cuda')
with torch.autocast('cuda', dtype=torch.bfloat16):
    m.generate(idx, 500, temperature=1.0, top_k=200)  # warm-up: every sequence length it then times
    torch.cuda.synchronize(); t0 = time.perf_counter()
    m.generate(idx, 500, temperature=1.0, top_k=200)
    torch.cuda.synchronize()
print(f"nanoGPT generate, 1 x 500 new tokens: {500 / (time.perf_counter() - t0):,.0f} tokens/s")
EOF
        say "sample-nanogpt: $(grep 'tokens/s' "$LOGS/sample-nanogpt.log")"
        ours_bench sample-ours --mode=sample --num_samples=1,4,16,64 --max_new_tokens=500 ;;
    ideas)
        for b in 8 16 24 32; do
            ours_bench idea-microbatch-$b --batch_size=$b
        done
        for k in flash cudnn mem_efficient; do
            ours_bench idea-attention-$k --sdpa_backend=$k
        done
        for c in 2048 8192; do
            ours_bench idea-chunked-loss-$c --loss_chunk=$c
        done
        ours_bench idea-compile-max-autotune --compile_mode=max-autotune-no-cudagraphs ;;
    modern)
        for recipe in faithful modern; do
            extra=(); [ $recipe = modern ] && extra=(config/train_shakespeare_char_modern.py)
            (cd "$OURS" && python train.py config/train_shakespeare_char.py "${extra[@]}" --eval_interval=100 \
                --out_dir="$LOGS/out-$recipe" --overwrite_checkpoint=True) > "$LOGS/modern-$recipe.log" 2>&1 \
                || say "modern-$recipe: FAILED (see $LOGS/modern-$recipe.log)"
            say "shakespeare_char $recipe: $(python - "$LOGS/out-$recipe/log.jsonl" <<'EOF'
import json, sys
evals = [r for r in map(json.loads, open(sys.argv[1])) if r['kind'] == 'eval']
hit = next((r for r in evals if r['val_loss'] <= 1.47), None)
best = min(evals, key=lambda r: r['val_loss'])
print((f"val {hit['val_loss']:.4f} <= 1.47 at iter {hit['iter']}, {hit['time'] - evals[0]['time']:.1f} s" if hit
       else "never reached val 1.47") + f"; best val {best['val_loss']:.4f} at iter {best['iter']}")
EOF
)"
            # GPT-2 124M: STEPS steps on GPT-2 BPE shakespeare when prepared (a real loss), else random tokens
            data=(); [ -f "$OURS/data/shakespeare/train.bin" ] && data=(--dataset=shakespeare)
            ours_bench gpt2-$recipe --modern=$([ $recipe = modern ] && echo True || echo False) \
                --rounds=$((STEPS / 10)) --iters_per_round=10 "${data[@]}"
        done ;;
    *) say "unknown section $section (train, recipe, sample, ideas, modern)" ;;
    esac
done
echo "summary in $SUMMARY"
