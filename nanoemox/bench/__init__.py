"""`nanoemox bench`: measure Nano-EmoX against its floor and against the obvious alternatives.

    nanoemox bench --preset tiny                                   # every section, a few minutes on a CPU
    nanoemox bench --preset tiny --sections decode tokens --json bench.json
    nanoemox bench --preset full --sections prefill budget         # full-size FLOPs on the meta device, no download
    nanoemox bench --preset full                                   # + the full-size model with random weights (~10 GB)
    python -m nanoemox.bench --preset tiny                         # the same, without the console script

Absolute times vary from run to run and machine to machine, so every figure that matters is a RATIO measured
within one run: timings are medians over repeats, with the two sides of a ratio interleaved (A B B A ...) to
cancel drift, at a fixed number of threads. One file per section:

    decode.py         time per decode step, full model with media in context / bare language model, same context
    prefill.py        time and FLOPs per branch for one clip (timed at the preset's size; full-size FLOPs on meta)
    tokens.py         media tokens per clip against a patch-token design, and the LM prefill time each implies
    batching.py       clips/s at batch 1, 4, 16 for `generate` and for the `emotion-analysis` pipeline
    preprocessing.py  per-clip decode, face detection, audio, tokenisation against model time; data loader vs step
    budget.py         the paper's P2E curriculum (train/configs/paper.yaml) at full size on paper: memory and time
                      on one 24 GB GPU
    training.py       examples/s per stage of the demo curriculum, from raw media and from the feature cache

and what they share: presets.py (tiny, small, full), context.py (the model, processor and clip built once),
timing.py (interleaved medians, FLOP counts), report.py (the printed table), cli.py (`main(argv=None)`).

Presets: `tiny` (hidden 32, 2 layers, the test checkpoint), `small` (random components of a few tens of millions
of parameters at the real frame, face and audio sizes), `full` (the published shapes, random weights; ~9.2 GB
in fp32). Checkpoints are composed offline in a temporary folder through `compose_checkpoint`.
"""
