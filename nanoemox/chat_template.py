"""The tokenizer pieces every checkpoint needs: Qwen's special tokens, the chat template, the branch placeholders.

The chat template is Qwen2.5's ChatML layout, extended with media parts: a `video` part becomes the
four branch placeholders (frames, face, speech, fusion) and a separate `audio` part the speech
placeholder (when the turn also has a video, that audio feeds the video's speech branch instead). The
processor expands each placeholder to its branch's token count, or removes it when the sample lacks
that modality. `nanoemox init` adds the placeholders to whatever tokenizer the language model brings
(`add_placeholder_tokens`); the tiny tokenizer (`nanoemox.tiny.tokenizer`) is trained with the same pieces.
"""

from __future__ import annotations

from nanoemox.modeling.configuration_nanoemox import PLACEHOLDER_TOKENS

QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
DEFAULT_SYSTEM = "You are Nano-EmoX, an assistant that perceives, understands and responds to human emotion."

_MEDIA = "".join(PLACEHOLDER_TOKENS[k] for k in ("frame", "face", "audio", "fusion"))
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message.role != 'system' %}"
    "<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}"
    "{% else %}"
    "{% set ns = namespace(video=false) %}"
    "{% for part in message.content %}{% if part.type == 'video' %}{% set ns.video = true %}{% endif %}"
    "{% endfor %}"
    "{% for part in message.content %}"
    "{% if part.type == 'video' %}" + _MEDIA + "\n"
    "{% elif part.type == 'audio' %}{% if not ns.video %}" + PLACEHOLDER_TOKENS["audio"] + "\n{% endif %}"
    "{% elif part.type == 'text' %}{{ part.text }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def add_placeholder_tokens(tokenizer) -> dict[str, int]:
    """Add the branch placeholders as special tokens (no-op for those present) and set the chat template.

    Returns {branch: token id}.
    """
    missing = [t for t in PLACEHOLDER_TOKENS.values() if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    tokenizer.chat_template = CHAT_TEMPLATE
    return {branch: tokenizer.convert_tokens_to_ids(tok) for branch, tok in PLACEHOLDER_TOKENS.items()}
