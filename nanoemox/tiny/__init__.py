"""The tiny demo components: small random stand-ins for CLIP, HuBERT, Swin and Qwen2, pre-trained just enough for
the CPU demo to learn something, and the tiny tokenizer.

    configs.py           shapes: TINY_ARCH (the new modules), TINY_LM, tiny_component_configs
    tokenizer.py         the tiny byte-level BPE and the text it is trained on
    lm_pretrain.py       pre-training of the tiny LM on generated text
    encoder_pretrain.py  pre-training of the tiny frame, face and speech encoders on drawn frames and voices
    components.py        save_tiny_components: all of the above on disk, pre-trained ones from the cache
    cache.py             the cache of pre-trained components (~/.cache/nanoemox, $NANOEMOX_CACHE)
"""
