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
Hub id or a local folder; the tiny preset first saves tiny random components to a temporary folder and
then takes exactly that route. The output folder holds config.json, model.safetensors, the tokenizer with
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
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionConfig,
    CLIPVisionModel,
    GenerationConfig,
    HubertConfig,
    HubertModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    SwinBackbone,
    SwinConfig,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING

from nanoemox.modeling.configuration_nanoemox import (
    AUDIO_ADAPTERS,
    FRAME_ADAPTERS,
    FUSION_MODULES,
    NanoEmoXConfig,
)
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration, NanoEmoXModel
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.tokenizer import add_placeholder_tokens, train_tiny_tokenizer

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

# Tiny components: every width 32, two layers; sizes chosen so that 8 frames, 8 x 2 s clips and the
# face crops run in milliseconds on a CPU.
TINY_ARCH = {
    "num_frame_tokens": 8,
    "num_audio_tokens": 8,
    "adapter_hidden_size": 32,
    "adapter_num_layers": 2,
    "adapter_num_heads": 2,
    "adapter_intermediate_size": 64,
    "audio_pool_layers": 2,
    "face_feature_size": 32,
    "face_num_heads": 2,
    "face_mlp_hidden_size": 64,
    "fusion_vision_layers": [1, 2, 2],
    "fusion_audio_layers": [1, 2, 2],
    "fusion_hidden_size": 32,
    "fusion_num_heads": 2,
}


# The tiny LM's shape; `save_tiny_components(lm=...)` / the curriculum's `model.init.lm_config` override it (the demo
# asks for a wider, deeper LM than the tests' hidden-32 one).
TINY_LM = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def tiny_component_configs(vocab_size: int, *, lm: dict | None = None) -> dict:
    """Configs of tiny random components (hidden 32, 2 layers); `lm` overrides Qwen2Config fields of the LM."""
    return {
        "vision": CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
            projection_dim=32,
        ),
        "audio": HubertConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            conv_dim=(32, 32, 32),
            conv_kernel=(10, 8, 4),
            conv_stride=(5, 8, 4),
            conv_bias=True,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            vocab_size=32,
        ),
        "face": SwinConfig(
            image_size=64,
            patch_size=4,
            embed_dim=16,
            depths=[1, 1, 1],
            num_heads=[1, 2, 2],
            window_size=4,
            out_features=["stage1", "stage2", "stage3"],
        ),
        "lm": Qwen2Config(
            vocab_size=vocab_size,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            **{**TINY_LM, **(lm or {})},
        ),
    }


# What a pretrained LM knows and a random tiny one does not: which words name which emotion, which wordings carry
# which intent. `reading_conversations` turns these into text-only task conversations whose answers follow from a
# cue in the text, so the tiny LM learns to read a cue from its context (the subtitle, or the start of the user
# turn, where the media tokens will sit) instead of guessing a label.
EMOTION_WORDS = {
    "happy": ("happy", "pleased", "delighted", "glad", "cheerful", "joyful", "thrilled"),
    "sad": ("sad", "disappointed", "heartbroken", "unhappy", "gloomy", "miserable"),
    "angry": ("angry", "annoyed", "furious", "irritated", "mad", "outraged"),
    "surprise": ("surprised", "startled", "astonished", "amazed", "shocked", "stunned"),
    "neutral": ("calm", "fine", "relaxed", "composed"),
    "fear": ("afraid", "scared", "terrified", "frightened"),
    "worried": ("worried", "nervous", "anxious", "uneasy"),
}
EMOTION_VALENCE = {"happy": 1, "surprise": 1, "sad": -1, "angry": -1, "fear": -1, "worried": -1, "neutral": 0}
INTENT_CUES = {
    "Thank": ("Thank you for {x}.", "Thanks a lot for {x}.", "I really appreciate {x}, thank you."),
    "Apologise": ("I am sorry about {x}.", "I apologise for {x}.", "Sorry, I forgot {x}."),
    "Ask": ("Could you help me with {x}?", "Can you tell me about {x}?", "Do you know when {x} starts?"),
    "Complain": ("I want to complain about {x}.", "{X} is unacceptable.", "{X} keeps getting worse."),
    "Praise": ("You did an excellent job on {x}.", "{X} was brilliant.", "Great work on {x}, it looks perfect."),
    "Inform": ("Just so you know, {x} is on Monday.", "For your information, {x} moved.", "Heads up, {x} changed."),
}
_THINGS = ("the report", "the party", "the delivery", "the meeting", "the garden", "the trip", "the call", "the car")
_FEELING = ("I feel {w}.", "Honestly, I am so {w}.", "I am really {w} about it.", "This makes me {w}.")
_LOOKS = ("The speaker looks {w}.", "A {w} face.", "The voice sounds {w}.", "{W}.")


def reading_conversations(num: int, seed: int = 0) -> list[list[dict]]:
    """Text-only conversations of the six tasks whose answer follows from a cue word or wording.

    The cue sits in the subtitle or in a text part before the prompt (where a clip's media tokens go); without a
    cue the label is random, as in `tiny_conversations`.
    """
    import random

    from nanoemox.modeling.prompts_nanoemox import TASKS, build_prompt, format_answer

    rng = random.Random(seed)
    conversations = []
    for _ in range(num):
        task = rng.choice(TASKS)
        thing = rng.choice(_THINGS)
        emotion, intent = rng.choice(list(EMOTION_WORDS)), rng.choice(list(INTENT_CUES))
        word = rng.choice(EMOTION_WORDS[emotion])
        cue_place = rng.choice(("subtitle", "context", "context", "none"))
        if task == "mir":
            cue = rng.choice(INTENT_CUES[intent]).format(x=thing, X=thing.capitalize())
            plain = f"It is about {thing}."
        else:
            cue = rng.choice(_FEELING if cue_place == "subtitle" else _LOOKS).format(w=word, W=word.capitalize())
            plain = rng.choice(INTENT_CUES[intent]).format(x=thing, X=thing.capitalize())
        subtitle = f"{plain} {cue}" if cue_place == "subtitle" else plain
        if cue_place == "none":
            emotion, intent = rng.choice(list(EMOTION_WORDS)), rng.choice(list(INTENT_CUES))  # nothing to read
            word = rng.choice(EMOTION_WORDS[emotion])
        score = EMOTION_VALENCE[emotion] * rng.uniform(1.0, 3.0)
        labels = {
            "sentiment": score,
            "emotion": emotion,
            "ov_emotions": [emotion, word] if word != emotion else [emotion],
            "reason": f"The speaker seems {word}, so the speaker is {emotion}.",
            "intent": intent,
            "response": f"I see that you feel {word}; I am here for you.",
        }
        content = [{"type": "text", "text": build_prompt(task, subtitle), "path": None}]
        if cue_place == "context":
            content.insert(0, {"type": "text", "text": cue + "\n", "path": None})
        answer = format_answer(task, labels)
        conversations.append(
            [
                {"role": "user", "content": content},
                {"role": "assistant", "content": [{"type": "text", "text": answer, "path": None}]},
            ]
        )
    return conversations


def _short_reading(rng) -> tuple[str, str]:
    """A short (cue, label) text: the first steps of `pretrain_tiny_lm` teach reading on these, where one cue among
    a dozen tokens is easy to find; in the full conversations it is one among ~150 and the LM learns it far slower."""
    thing = rng.choice(_THINGS)
    if rng.random() < 0.5:
        emotion = rng.choice(list(EMOTION_WORDS))
        word = rng.choice(EMOTION_WORDS[emotion])
        cue = rng.choice(_LOOKS + _FEELING).format(w=word, W=word.capitalize())
        return f"{cue}\nWhich emotion?\n", emotion
    intent = rng.choice(list(INTENT_CUES))
    return f"{rng.choice(INTENT_CUES[intent]).format(x=thing, X=thing.capitalize())}\nWhich intent?\n", intent


def pretrain_tiny_lm(
    lm: Qwen2ForCausalLM, tokenizer, *, steps: int, seed: int = 0, batch_size: int = 32, short_share: float = 0.4
) -> float:
    """Language-model pre-training of the tiny LM on text-only task conversations; the loss is on the answers.

    A real checkpoint starts from a pretrained LM that already writes answers; a random tiny LM does not, and
    adapters trained against a frozen random LM (P2E phases 1-2) have nothing to steer. These steps teach it the
    answer format of each task (`tiny_conversations`, random labels) and to read a cue from its context
    (`reading_conversations`: emotion words, intent wordings), first on short texts (`short_share` of the steps),
    then on full chat-formatted conversations. Returns the final loss.
    """
    import random

    from nanoemox.tokenizer import tiny_conversations

    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed + 3)
    conversations = tiny_conversations(1000, seed=seed + 1) + reading_conversations(7000, seed=seed + 2)
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    tokenizer.padding_side = "right"
    answer_start = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    optimizer = torch.optim.AdamW(lm.parameters(), lr=3e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=max(steps, 1), pct_start=0.1)
    lm.train()
    loss = torch.tensor(float("nan"))
    for step in tqdm(range(steps), desc="pre-training the tiny LM", leave=False):
        if step < short_share * steps:
            pairs = [_short_reading(rng) for _ in range(batch_size)]
            batch = tokenizer([q + a + "<|im_end|>" for q, a in pairs], return_tensors="pt", padding=True)
            starts = [len(tokenizer(q, add_special_tokens=False)["input_ids"]) for q, _ in pairs]
        else:
            picks = torch.randint(len(texts), (batch_size,), generator=generator).tolist()
            batch = tokenizer([texts[i] for i in picks], return_tensors="pt", padding=True)
            starts = [
                int((row == answer_start[0]).nonzero().flatten()[-1]) + len(answer_start) for row in batch["input_ids"]
            ]
        labels = torch.full_like(batch["input_ids"], -100)
        for i, begin in enumerate(starts):
            labels[i, begin:] = batch["input_ids"][i, begin:]
        labels = labels.masked_fill(batch["attention_mask"] == 0, -100)
        loss = lm(**batch, labels=labels).loss
        loss.backward()
        loss = loss.detach()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    lm.eval()
    logger.info("tiny LM pre-trained for %d steps, answer loss %.3f", steps, float(loss))
    return float(loss)


def save_tiny_components(
    folder: str | os.PathLike,
    *,
    seed: int = 0,
    lm_pretrain_steps: int = 0,
    lm: dict | None = None,
    encoder_pretrain_steps: int = 0,
    vision_pretrain_steps: int = 0,
) -> dict[str, str]:
    """Write tiny random component checkpoints (and the tiny tokenizer beside the LM) to `folder`.

    `lm_pretrain_steps` > 0 pre-trains the tiny LM on text first (see `pretrain_tiny_lm`); the demo does, tests
    mostly do not. `lm` overrides the LM's shape (`TINY_LM` keys, e.g. {"hidden_size": 96}); the encoders are
    the same whatever the LM. `encoder_pretrain_steps` > 0 pre-trains the tiny face and speech encoders on drawn
    faces and synthesized voices (`nanoemox.encoder_pretrain`; the demo does); `vision_pretrain_steps` > 0 the
    tiny CLIP on drawn scenes (opt-in, see demo.yaml). Returns {component: path}, ready for `compose_checkpoint`.
    """
    torch.manual_seed(seed)
    folder = Path(folder)
    tokenizer = train_tiny_tokenizer()
    configs = tiny_component_configs(vocab_size=len(tokenizer), lm=lm)
    classes = {"vision": CLIPVisionModel, "audio": HubertModel, "face": SwinBackbone, "lm": Qwen2ForCausalLM}
    paths = {}
    for name, config in configs.items():
        model = classes[name](config)
        if name == "lm" and lm_pretrain_steps:
            pretrain_tiny_lm(model, tokenizer, steps=lm_pretrain_steps, seed=seed)
        if name == "vision" and vision_pretrain_steps:
            from nanoemox.encoder_pretrain import pretrain_frame_encoder

            pretrain_frame_encoder(model, steps=vision_pretrain_steps, seed=seed)
        if name in ("face", "audio") and encoder_pretrain_steps:
            from nanoemox.encoder_pretrain import pretrain_face_backbone, pretrain_speech_encoder

            if name == "face":
                pretrain_face_backbone(model, steps=encoder_pretrain_steps, seed=seed)
            else:
                pool = TINY_ARCH["audio_pool_layers"]
                pretrain_speech_encoder(model, steps=encoder_pretrain_steps, pool_layers=pool, seed=seed)
        model.save_pretrained(folder / name)
        paths[name] = str(folder / name)
    tokenizer.save_pretrained(folder / "lm")
    return paths


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
    model: NanoEmoXForConditionalGeneration, processor_or_tokenizer, output: str | os.PathLike
) -> None:
    """Save a complete checkpoint: the processor, then the model (whose `save_pretrained` writes the weights, the
    config with its auto classes and the emotion-analysis pipeline, and the checkpoint's code).

    `processor_or_tokenizer`: a `NanoEmoXProcessor` (saved as it is) or a tokenizer (a processor is built around
    it from the model config).
    """
    output = Path(output)
    processor = processor_or_tokenizer
    if not isinstance(processor, NanoEmoXProcessor):
        processor = NanoEmoXProcessor.from_model_config(model.config, processor_or_tokenizer)
    processor.save_pretrained(output)
    model.save_pretrained(output)
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
            raise SystemExit("--dry-run describes the full-size model; use --preset full")
        counts = dry_run(arch)
        print(_format_counts(counts))
        print(json.dumps({"total_parameters": counts["total"]}))
        return 0
    if not args.output:
        raise SystemExit("nanoemox init: --output is required (or --dry-run)")
    dtype = getattr(torch, args.dtype)
    if args.preset == "tiny":
        with tempfile.TemporaryDirectory() as tmp:
            paths = save_tiny_components(tmp, seed=args.seed, lm_pretrain_steps=args.lm_pretrain_steps)
            paths.update({k: v for k in paths if (v := getattr(args, k))})
            model = compose_checkpoint(args.output, **paths, arch={**TINY_ARCH, **arch}, dtype=dtype, seed=args.seed)
    else:
        paths = {k: getattr(args, k) or PUBLISHED_COMPONENTS[k] for k in PUBLISHED_COMPONENTS}
        model = compose_checkpoint(args.output, **paths, arch=arch, dtype=dtype, seed=args.seed)
    print(_format_counts(count_parameters(model)))
    return 0


__all__ = ["compose_checkpoint", "save_tiny_components", "dry_run", "count_parameters", "main", "NanoEmoXModel"]
