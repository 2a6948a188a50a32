"""The tiny preset's tokenizer: a byte-level BPE trained offline on text this package generates.

    tokenizer = train_tiny_tokenizer()          # ~1k tokens, Qwen's special tokens and chat template

Its corpus (`tiny_corpus`) is the task prompts, answer formats and label words of every task: `tiny_conversations`
are text-only conversations of each task with random labels (the tiny LM's pre-training reuses them to learn the
answer formats). The special tokens and chat template are those of every checkpoint (`nanoemox.chat_template`).
"""

from __future__ import annotations

import itertools
import random

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from nanoemox.chat_template import CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS
from nanoemox.modeling.prompts_nanoemox import (
    DEFAULT_TASK_PROMPTS,
    JX4MEI_EMOTIONS,
    JX4MEI_INTENTS,
    TASKS,
    build_messages,
    format_answer,
)

# label vocabularies of the public benchmarks (MER2023 discrete labels, MIntRec's 20 intents) and common
# open-vocabulary words, so the tiny tokenizer and LM know the answer words real data uses
_EMOTIONS = (
    "neutral happy sad angry surprise worried fear disgust contempt excited calm anxious grateful "
    "pleased delighted upset heartbroken annoyed furious curious amazed relieved content"
).split()
_INTENTS = (
    "Complain Praise Apologise Thank Criticize Agree Taunt Flaunt Joke Oppose Comfort Care Inform Advise "
    "Arrange Introduce Leave Prevent Greet Ask"
).split()
_SUBJECTS = "I you we they she he my friend the team your mother our neighbour".split()
_VERBS = "love hate miss need want found lost finished broke fixed heard saw".split()
_OBJECTS = "the letter the car this song the party your gift the result the news the game".split()
_CLUES = "face voice wording scene smile frown brows mouth pitch tempo loud soft fast slow".split()


def tiny_conversations(num: int = 4000, seed: int = 0) -> list[list[dict]]:
    """Text-only conversations of every task with random labels: prompt formats, answer formats, label words.

    jx4mei conversations draw their labels from the JX4MEI sets (7 emotions, 9 intents) and reuse the reason as
    the co-occurrence explanation.
    """
    rng = random.Random(seed)
    conversations = []
    for _ in range(num):
        sentence = f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}."
        task = rng.choice(TASKS)
        emotion = rng.choice(_EMOTIONS)
        labels = {
            "sentiment": rng.uniform(-3, 3),
            "emotion": emotion,
            "ov_emotions": [emotion, rng.choice(_EMOTIONS)],
            "reason": f"The {rng.choice(_CLUES)} is {rng.choice(['loud', 'soft', 'fast', 'slow', 'wide'])} and "
            f"the {rng.choice(_CLUES)} looks {rng.choice(_EMOTIONS)}, so the speaker is {emotion}.",
            "intent": rng.choice(_INTENTS),
            "response": f"I am sorry to hear that {sentence.lower()}",
        }
        if task == "jx4mei":
            labels["emotion"], labels["intent"] = rng.choice(JX4MEI_EMOTIONS), rng.choice(JX4MEI_INTENTS)
        conversations.append(build_messages(task, subtitle=sentence, answer=format_answer(task, labels)))
    return conversations


def tiny_corpus(num_sentences: int = 4000, seed: int = 0) -> list[str]:
    """Text for the tiny tokenizer: the task prompts, answer formats, label words and simple sentences."""
    lines = list(DEFAULT_TASK_PROMPTS.values()) + [" ".join(_EMOTIONS), " ".join(_INTENTS)]
    lines += [" ".join(JX4MEI_EMOTIONS), " ".join(JX4MEI_INTENTS)]
    for messages in tiny_conversations(num_sentences, seed):
        lines.extend(part["text"] for m in messages for part in m["content"] if part["text"])
    return lines


def train_tiny_tokenizer(
    vocab_size: int = 1024, extra_special_tokens: tuple[str, ...] = ()
) -> PreTrainedTokenizerFast:
    """A byte-level BPE (Qwen2 style: no prefix space, byte fallback through the byte alphabet)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = list(QWEN_SPECIAL_TOKENS) + list(extra_special_tokens)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(itertools.chain(tiny_corpus()), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(extra_special_tokens),
        model_max_length=32768,
    )
    wrapped.padding_side = "left"
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
