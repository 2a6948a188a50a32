"""`nanoemox init`: compose a Nano-EmoX checkpoint folder from pretrained components.

    # the published design, from the Hub (needs the Hub and ~10 GB of RAM)
    nanoemox init --output nanoemox-base \
        --vision openai/clip-vit-large-patch14 --audio facebook/hubert-large-ll60k \
        --face microsoft/swin-base-patch4-window7-224 --lm Qwen/Qwen2.5-1.5B-Instruct
    # full-size config on the meta device: parameters per branch, nothing downloaded
    nanoemox init --preset full --dry-run
    # tiny random components (hidden 32, 2 layers) for tests and the CPU demo, fully offline
    nanoemox init --preset tiny --output ckpt-tiny

Every route goes through `compose_checkpoint`, which loads each component with `from_pretrained` from a
Hub id or a local folder; the tiny preset first saves tiny random components (`nanoemox.tiny`) to a temporary
folder and then takes exactly that route. The output folder holds config.json, model.safetensors, the tokenizer with
the branch placeholders added, the processor, generation_config.json and the remote-code files, so that
`AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)` works without this package.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionModel,
    GenerationConfig,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING

from nanoemox.chat_template import add_placeholder_tokens
from nanoemox.cli_inputs import CLIError
from nanoemox.modeling.configuration_nanoemox import (
    AUDIO_ADAPTERS,
    FRAME_ADAPTERS,
    FUSION_MODULES,
    NanoEmoXConfig,
)
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor

logger = logging.getLogger(__name__)

PUBLISHED_COMPONENTS = {
    "vision": "openai/clip-vit-large-patch14",
    "audio": "facebook/hubert-large-ll60k",
    "face": "microsoft/swin-base-patch4-window7-224",
    "lm": "Qwen/Qwen2.5-1.5B-Instruct",
}
# modules of NanoEmoXModel that are not pretrained components: initialised fresh by init
NEW_MODULES = ("frame_adapter", "audio_adapter", "face_fusion", "face_adapter", "fusion")
# new modules that only some configs have (None otherwise): the sentiment head (`--sentiment-head`)
OPTIONAL_NEW_MODULES = ("sentiment_head",)
BRANCH_MODULES = {
    "frame encoder (CLIP)": ("vision_tower",),
    "speech encoder (HuBERT)": ("audio_tower",),
    "face backbone (Swin)": ("face_backbone",),
    "language model (Qwen2)": ("language_model",),
    "frame adapter": ("frame_adapter",),
    "speech adapter": ("audio_adapter",),
    "face fusion + temporal block": ("face_fusion", "face_adapter"),
    "fusion encoder": ("fusion",),
}
DECODING = {"do_sample": True, "top_p": 0.9, "temperature": 1.0, "max_new_tokens": 1200}


def _load_components(vision: str, audio: str, face: str, lm: str, dtype: torch.dtype):
    logger.info("loading components: vision=%s audio=%s face=%s lm=%s", vision, audio, face, lm)
    vision_model = CLIPVisionModel.from_pretrained(vision, dtype=dtype)
    audio_model = AutoModel.from_pretrained(audio, dtype=dtype)
    # every stage as an output: the face branch fuses the backbone's multi-scale features
    # (AutoBackbone.from_pretrained asks the Hub whether a local folder is a repo, so resolve the class here)
    face_config = AutoConfig.from_pretrained(face)
    face_config.out_features = [s for s in face_config.stage_names if s != "stem"]
    face_class = MODEL_FOR_BACKBONE_MAPPING[type(face_config)]
    face_model = face_class.from_pretrained(face, config=face_config, dtype=dtype)
    lm_model = AutoModelForCausalLM.from_pretrained(lm, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(lm)
    return vision_model, audio_model, face_model, lm_model, tokenizer


def compose_checkpoint(
    output: str | os.PathLike,
    *,
    vision: str,
    audio: str,
    face: str,
    lm: str,
    arch: dict | None = None,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> NanoEmoXForConditionalGeneration:
    """Build Nano-EmoX from pretrained components (Hub ids or local folders) and save it to `output`.

    `arch` overrides NanoEmoXConfig fields (adapters, token counts, fusion layers, ...).
    """
    vision_model, audio_model, face_model, lm_model, tokenizer = _load_components(vision, audio, face, lm, dtype)
    token_ids = add_placeholder_tokens(tokenizer)
    if len(tokenizer) > lm_model.get_input_embeddings().num_embeddings:  # Qwen2.5 has spare rows; tiny has not
        lm_model.resize_token_embeddings(len(tokenizer))
    text_config = lm_model.config
    config = NanoEmoXConfig(
        vision_config=vision_model.config.to_dict(),
        audio_config=audio_model.config.to_dict(),
        face_config=face_model.config.to_dict(),
        text_config=text_config.to_dict(),
        **{f"{k}_token_id": v for k, v in token_ids.items()},
        **(arch or {}),
    )
    torch.manual_seed(seed)
    # Build the shell on the meta device so no random copy of a 2B-parameter model is ever allocated, then
    # put the pretrained components in and initialise only the new modules.
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(config)
    model.model.vision_tower = vision_model
    model.model.audio_tower = audio_model
    model.model.face_backbone = face_model
    model.model.language_model = lm_model.model
    model.lm_head = lm_model.lm_head
    for name in NEW_MODULES + OPTIONAL_NEW_MODULES:
        module = getattr(model.model, name)
        if module is None:
            continue
        module = module.to_empty(device="cpu")
        module.apply(model._init_weights)
        module.to(dtype)
    model.tie_weights()
    leftover = [n for n, p in model.named_parameters() if p.is_meta]
    if leftover:
        raise RuntimeError(f"parameters left uninitialised: {leftover[:5]}")
    model.generation_config = GenerationConfig(
        **DECODING,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
    )
    save_checkpoint(model, tokenizer, output)
    return model


def save_checkpoint(
    model: NanoEmoXForConditionalGeneration,
    processor_or_tokenizer,
    output: str | os.PathLike,
    *,
    training_note: dict | None = None,
) -> None:
    """Save a complete checkpoint: the processor, then the model (whose `save_pretrained` writes the weights, the
    config with its auto classes and the emotion-analysis pipeline, and the checkpoint's code).

    `processor_or_tokenizer`: a `NanoEmoXProcessor` (saved as it is) or a tokenizer (a processor is built around
    it from the model config). `training_note`: what produced these weights (a curriculum stage), recorded in the
    checkpoint's training history.
    """
    output = Path(output)
    processor = processor_or_tokenizer
    if not isinstance(processor, NanoEmoXProcessor):
        processor = NanoEmoXProcessor.from_model_config(model.config, processor_or_tokenizer)
    processor.save_pretrained(output)
    model.save_pretrained(output, training_note=training_note)
    logger.info("wrote %s", output)


def count_parameters(model: NanoEmoXForConditionalGeneration) -> dict[str, int]:
    """Parameters per branch and in total (tied embeddings counted once)."""
    counts = {}
    for branch, names in BRANCH_MODULES.items():
        counts[branch] = sum(p.numel() for n in names for p in getattr(model.model, n).parameters())
    seen = {id(p) for n in BRANCH_MODULES.values() for m in n for p in getattr(model.model, m).parameters()}
    counts["LM head (untied part)"] = sum(p.numel() for p in model.lm_head.parameters() if id(p) not in seen)
    for name in OPTIONAL_NEW_MODULES:
        if (module := getattr(model.model, name)) is not None:
            counts[name.replace("_", " ")] = sum(p.numel() for p in module.parameters())
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def dry_run(arch: dict | None = None) -> dict[str, int]:
    """The full-size model on the meta device: nothing downloaded, nothing allocated."""
    config = NanoEmoXConfig(**(arch or {}))
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(config)
    return count_parameters(model)


def _format_counts(counts: dict[str, int]) -> str:
    width = max(map(len, counts))
    return "\n".join(f"{name:<{width}}  {n:>15,d}  ({n / 1e6:,.1f} M)" for name, n in counts.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox init", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=["full", "tiny"], default="full")
    parser.add_argument("--output", help="checkpoint folder to write")
    parser.add_argument("--dry-run", action="store_true", help="full-size config on the meta device; print counts")
    for name in ("vision", "audio", "face", "lm"):
        parser.add_argument(
            f"--{name}", help=f"Hub id or local folder (full preset default: {PUBLISHED_COMPONENTS[name]})"
        )
    parser.add_argument("--frame-adapter", "--adapter", dest="frame_adapter", choices=FRAME_ADAPTERS)
    parser.add_argument("--audio-adapter", choices=AUDIO_ADAPTERS)
    parser.add_argument("--fusion", choices=FUSION_MODULES)
    parser.add_argument(
        "--sentiment-head",
        action="store_true",
        default=None,
        help="EGMF's regression head: the model also outputs a continuous sentiment score (msa)",
    )
    parser.add_argument(
        "--fec-key-frames",
        dest="num_key_frames",
        type=int,
        metavar="N",
        help="Emotion-Qwen facial emotion capture: append the N most expressive frames, masked to the face (0: off)",
    )
    parser.add_argument("--fec-scorer", help="how FEC scores expressiveness: haar_smile (default), expression_energy")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm-pretrain-steps", type=int, default=0, help="tiny preset: pre-train the LM on text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    arch = {
        k: v
        for k in ("frame_adapter", "audio_adapter", "fusion", "num_key_frames", "fec_scorer", "sentiment_head")
        if (v := getattr(args, k)) is not None
    }
    if args.frame_adapter and not args.audio_adapter:
        arch["audio_adapter"] = args.frame_adapter
    if args.dry_run:
        if args.preset == "tiny":
            raise CLIError("--dry-run describes the full-size model; use --preset full")
        counts = dry_run(arch)
        print(_format_counts(counts))
        print(json.dumps({"total_parameters": counts["total"]}))
        return 0
    if not args.output:
        raise CLIError("--output is required (or --dry-run)")
    dtype = getattr(torch, args.dtype)
    if args.preset == "tiny":
        from nanoemox.tiny.components import save_tiny_components
        from nanoemox.tiny.configs import TINY_ARCH

        with tempfile.TemporaryDirectory() as tmp:
            paths = save_tiny_components(tmp, seed=args.seed, lm_pretrain_steps=args.lm_pretrain_steps)
            paths.update({k: v for k in paths if (v := getattr(args, k))})
            model = compose_checkpoint(args.output, **paths, arch={**TINY_ARCH, **arch}, dtype=dtype, seed=args.seed)
    else:
        paths = {k: getattr(args, k) or PUBLISHED_COMPONENTS[k] for k in PUBLISHED_COMPONENTS}
        model = compose_checkpoint(args.output, **paths, arch=arch, dtype=dtype, seed=args.seed)
    print(_format_counts(count_parameters(model)))
    return 0


__all__ = ["compose_checkpoint", "save_checkpoint", "count_parameters", "dry_run", "main"]
