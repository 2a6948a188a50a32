"""Task prompts, answer formats and answer parsers for the six Nano-EmoX tasks and the JX4MEI joint task.

This file travels with every checkpoint (it is imported by the processor and the pipeline), so it
imports nothing but the standard library. The templates are plain data: a user edits them by
passing `task_prompts={...}` to the processor, or by editing `processor_config.json` of a checkpoint.

Tasks and their tags (as in the paper's code):

| task   | tag              | assistant answer (what `format_answer` writes, `parse_answer` reads)     |
|--------|------------------|-------------------------------------------------------------------------|
| msa    | [Recognition]    | "positive (score 1.20)" / "negative (score -0.80)" / "neutral (score 0.00)" |
| mer    | [Recognition]    | one emotion word, e.g. "happy"                                          |
| ov-mer | [Recogn_OV]      | comma-separated emotion words, e.g. "happy, excited"                    |
| eri    | [Inference]      | free-text reason                                                        |
| mir    | [Clue]           | one intent word, e.g. "Inform"                                          |
| erg    | [Interaction]    | "<think>The speaker feels sad. ...</think>\n<reply>"                     |
| jx4mei | [Joint]          | "emotion: happy; intent: consoling; because: <why the two co-occur>"    |

`jx4mei` is XMEI-Qwen's joint task (JX4MEI: joint multimodal emotion-intent explanation and classification):
name the emotion and the intent together and explain why they co-occur. The paper's code has no tag for it
(its single task needs none); `[Joint]` is ours, in the style of the Nano-EmoX tags. The explanation is
stored in the schema's `labels.reason`. New tasks are appended to `TASKS`, so the task ids that index it
(the collator's `task_index`) stay what they were.
"""

from __future__ import annotations

import re

TASKS = ("msa", "mer", "ov-mer", "eri", "mir", "erg", "jx4mei")

TASK_TAGS = {
    "msa": "[Recognition]",
    "mer": "[Recognition]",
    "ov-mer": "[Recogn_OV]",
    "eri": "[Inference]",
    "mir": "[Clue]",
    "erg": "[Interaction]",
    "jx4mei": "[Joint]",
}

# `{subtitle}` is filled with the clip's subtitle ("" when there is none).
DEFAULT_TASK_PROMPTS = {
    "msa": '[Recognition] Subtitle: "{subtitle}". What is the sentiment of the speaker? '
    "Answer positive, negative or neutral, with a score from -3 to 3.",
    "mer": '[Recognition] Subtitle: "{subtitle}". Which emotion does the speaker show? Answer with one word.',
    "ov-mer": '[Recogn_OV] Subtitle: "{subtitle}". List every emotion the speaker shows, separated by commas.',
    "eri": '[Inference] Subtitle: "{subtitle}". Explain from the facial, vocal and textual clues '
    "why the speaker feels this way.",
    "mir": '[Clue] Subtitle: "{subtitle}". What is the speaker\'s intent? Answer with one word.',
    "erg": '[Interaction] Subtitle: "{subtitle}". Think about how the speaker feels, then reply with empathy.',
    "jx4mei": '[Joint] Subtitle: "{subtitle}". Which emotion does the speaker show, what is the speaker\'s intent, '
    'and why do they occur together? Answer as "emotion: <word>; intent: <word>; because: <explanation>".',
}

SENTIMENT_WORDS = ("negative", "neutral", "positive")

# Closed label sets. MER2023's six discrete emotions; the intents of MIntRec (20) and MIntRec2.0 (30, without the
# out-of-scope "UNK"), in the order the benchmarks' own code lists them (`data/__init__.py` of thuiar/MIntRec and
# thuiar/MIntRec2.0).
MER2023_EMOTIONS = ("neutral", "happy", "sad", "angry", "surprise", "worried")
MINTREC_INTENTS = tuple(
    "Complain, Praise, Apologise, Thank, Criticize, Agree, Taunt, Flaunt, Joke, Oppose, "
    "Comfort, Care, Inform, Advise, Arrange, Introduce, Leave, Prevent, Greet, Ask for help".split(", ")
)
MINTREC2_INTENTS = tuple(
    "Acknowledge, Advise, Agree, Apologise, Arrange, Ask for help, Asking for opinions, Care, Comfort, Complain, "
    "Confirm, Criticize, Doubt, Emphasize, Explain, Flaunt, Greet, Inform, Introduce, Invite, "
    "Joke, Leave, Oppose, Plan, Praise, Prevent, Refuse, Taunt, Thank, Warn".split(", ")
)
# The label sets whose probabilities the pipeline reports by default (a checkpoint's processor may carry its own,
# `task_labels`, e.g. the labels of the data it was trained on). msa's are the polarity words its answer starts with.
DEFAULT_TASK_LABELS = {"mer": MER2023_EMOTIONS, "mir": MINTREC_INTENTS, "msa": SENTIMENT_WORDS}

# The JX4MEI label sets: 7 emotions and 9 intents. The XMEI-dataset README (`JX4MEI/JX4MEI`) gives the annotation
# fields but not the label lists, so these are inferred: they are MC-EIU's (Liu et al., NeurIPS 2024 D&B, arXiv
# 2407.02751: "7 emotion categories, 9 intent categories", abbreviated Hap/Sur/Sad/Dis/Ang/Fea/Neu and
# Que/Agr/Ack/Enc/Con/Sug/Wis/Sym/Neu in `MC-EIU/MC-EIU`), a dataset JX4MEI's comparison table lists; the intents
# are the empathetic listener intents of Welivita & Pu (`anuradha1992/EmpatheticIntents`) plus neutral. The JX4MEI
# demo answer (emotion "Happy", intent "Consoling") fits them.
JX4MEI_EMOTIONS = ("happy", "surprise", "sad", "disgust", "anger", "fear", "neutral")
JX4MEI_INTENTS = (
    "questioning",
    "agreeing",
    "acknowledging",
    "encouraging",
    "consoling",
    "suggesting",
    "wishing",
    "sympathizing",
    "neutral",
)


def normalize_task(task: str) -> str:
    """ "OV_MER", "ovmer", "ov-mer" -> "ov-mer"; `ValueError` naming the task for an unknown one."""
    key = str(task).lower().replace("_", "-")
    if key == "ovmer":
        key = "ov-mer"
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return key


def build_prompt(task: str, subtitle: str | None = None, task_prompts: dict[str, str] | None = None) -> str:
    """The user instruction for `task`, with the subtitle filled in."""
    task = normalize_task(task)
    template = (task_prompts or DEFAULT_TASK_PROMPTS).get(task, DEFAULT_TASK_PROMPTS[task])
    return template.format(subtitle=(subtitle or "").strip())


def build_messages(
    task: str,
    *,
    subtitle: str | None = None,
    video: str | None = None,
    audio: str | None = None,
    answer: str | None = None,
    task_prompts: dict[str, str] | None = None,
) -> list[dict]:
    """Conversational messages in the transformers/TRL format.

    The user turn holds a `video` part (when there is a video), an `audio` part (only for a separate
    audio file; by default the audio track of the video is used) and the task prompt. When `answer`
    is given an assistant turn is appended.
    """
    content: list[dict] = []
    if video:
        content.append({"type": "video", "path": video, "text": None})
    if audio:
        content.append({"type": "audio", "path": audio, "text": None})
    content.append({"type": "text", "text": build_prompt(task, subtitle, task_prompts), "path": None})
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer, "path": None}]})
    return messages


def sentiment_word(score: float, neutral_band: float = 0.0) -> str:
    """Map a score in [-3, 3] to positive / negative / neutral (|score| <= band is neutral)."""
    if score > neutral_band:
        return "positive"
    if score < -neutral_band:
        return "negative"
    return "neutral"


def format_answer(task: str, labels: dict) -> str:
    """The assistant answer for a sample whose gold labels are `labels` (schema `labels` struct)."""
    task = normalize_task(task)
    if task == "msa":
        score = labels.get("sentiment")
        if score is None:
            raise ValueError("msa answer needs labels['sentiment']")
        return f"{sentiment_word(float(score))} (score {float(score):.2f})"
    if task == "mer":
        if not labels.get("emotion"):
            raise ValueError("mer answer needs labels['emotion']")
        return str(labels["emotion"])
    if task == "ov-mer":
        words = labels.get("ov_emotions") or ([labels["emotion"]] if labels.get("emotion") else [])
        if not words:
            raise ValueError("ov-mer answer needs labels['ov_emotions']")
        return ", ".join(words)
    if task == "eri":
        if not labels.get("reason"):
            raise ValueError("eri answer needs labels['reason']")
        return str(labels["reason"])
    if task == "mir":
        if not labels.get("intent"):
            raise ValueError("mir answer needs labels['intent']")
        return str(labels["intent"])
    if task == "jx4mei":
        missing = [k for k in ("emotion", "intent", "reason") if not labels.get(k)]
        if missing:
            raise ValueError(f"jx4mei answer needs labels {missing}")
        return f"emotion: {labels['emotion']}; intent: {labels['intent']}; because: {labels['reason']}"
    # erg: a chain of thought whose first line names the speaker's emotion, then the reply
    if not labels.get("response"):
        raise ValueError("erg answer needs labels['response']")
    emotion = labels.get("response_emotion") or labels.get("emotion") or "neutral"
    return f"<think>The speaker feels {emotion}.</think>\n{labels['response']}"


_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_SCORE = re.compile(r"score\s*(-?\d+(?:\.\d+)?)", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']*")
# jx4mei fields: "emotion: happy", "Emotion - happy", "the user's emotion is happy" (XMEI-Qwen's answer wording);
# a label runs to the next separator or bracket; the explanation is everything after its marker
_JOINT_FIELD = r"\b{name}s?\b\**(?:\s+is\b|\s*[:=\-])\s*\**\s*([^;,.\n*(\[]+)"
_JOINT_EMOTION = re.compile(_JOINT_FIELD.format(name="emotion"), re.I)
_JOINT_INTENT = re.compile(_JOINT_FIELD.format(name="intent(?:ion)?"), re.I)
_JOINT_BECAUSE = re.compile(
    r"(?:\bbecause\b\s*:?|\bexplanation\s*:|(?:\bthe\s+)?(?:\bunderlying\s+)?\breason(?:\s+is\b\s*:?|\s*:)|\bwhy\s*:)"
    r"\s*(.*)",
    re.I | re.S,
)


def strip_think(text: str) -> str:
    """Remove `<think>...</think>` blocks (an unclosed block is removed to the end)."""
    text = _THINK.sub("", text)
    return re.sub(r"<think>.*", "", text, flags=re.S | re.I).strip()


def parse_answer(task: str, text: str) -> dict:
    """Parse generated text into the structured answer for `task`.

    Never raises on free text: fields it cannot find are `None` (or empty lists).
    """
    task = normalize_task(task)
    text = (text or "").strip()
    if task == "msa":
        lowered = text.lower()
        label = next((w for w in SENTIMENT_WORDS if w in lowered), None)
        match = _SCORE.search(text)
        score = float(match.group(1)) if match else None
        if label is None and score is not None:
            label = sentiment_word(score)
        return {"sentiment": label, "score": score}
    if task in ("mer", "mir"):
        words = _WORD.findall(text)
        key = "emotion" if task == "mer" else "intent"
        return {key: words[0] if words else None}
    if task == "ov-mer":
        parts = [p.strip(" .;:\n\t").lower() for p in re.split(r"[,;\n]| and ", text)]
        return {"emotions": [p for p in parts if p]}
    if task == "eri":
        return {"reason": text or None}
    if task == "jx4mei":
        return _parse_joint(strip_think(text) if "<think>" in text.lower() else text)
    think = _THINK.search(text)
    emotion = None
    if think:
        first_line = think.group(1).strip().splitlines()[0] if think.group(1).strip() else ""
        match = re.search(r"feels?\s+([A-Za-z\-]+)", first_line, re.I)
        emotion = match.group(1).lower() if match else None
    return {"emotion": emotion, "response": strip_think(text) or None}


def _joint_label(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    if match is None:
        return None
    label = match.group(1).strip(" \t\"'`").lower()
    return label or None


def _parse_joint(text: str) -> dict:
    """{"emotion", "intent", "explanation"} from a jx4mei answer; each `None` when absent.

    Labels are read before the explanation marker first, so that words of the explanation do not pose as
    labels; only a label missing there is looked for in the whole text.
    """
    because = _JOINT_BECAUSE.search(text)
    head = text[: because.start()] if because else text
    explanation = because.group(1).strip() if because else ""
    return {
        "emotion": _joint_label(_JOINT_EMOTION, head) or _joint_label(_JOINT_EMOTION, text),
        "intent": _joint_label(_JOINT_INTENT, head) or _joint_label(_JOINT_INTENT, text),
        "explanation": explanation or None,
    }
