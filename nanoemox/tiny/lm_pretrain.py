"""Pre-training of the tiny LM on text, for the CPU demo only: answer formats, and reading a cue from the context.

    pretrain_tiny_lm(Qwen2ForCausalLM(configs["lm"]), train_tiny_tokenizer(), steps=2000)

A real checkpoint starts from a pretrained LM that already writes answers; a random tiny LM does not, and adapters
trained against a frozen random LM (P2E phases 1-2) have nothing to steer. The text here is generated, not read from
the demo corpus: task conversations with random labels (`tiny_conversations`) and conversations whose answer follows
from a cue word or wording (`reading_conversations`).
"""

from __future__ import annotations

import logging
import random

import torch
from tqdm.auto import tqdm
from transformers import Qwen2ForCausalLM

from nanoemox.modeling.prompts_nanoemox import TASKS, build_prompt, format_answer

from .tokenizer import tiny_conversations

logger = logging.getLogger(__name__)

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
