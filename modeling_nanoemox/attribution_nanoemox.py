"""Why this answer: each branch's share of the drop in the chosen answer's log-likelihood when that branch is masked.

    inputs = encode_once(model, processor.collate(prepared))      # the frozen encoders run here, once
    sequences = model.generate(**inputs, max_new_tokens=8)         # the answer, from those encoder outputs
    answers = answer_token_ids(sequences[:, inputs["input_ids"].shape[1]:], model.generation_config.eos_token_id)
    attributions = explain_answers(model, processor, rows, prepared, inputs, answers)
    attributions[0].shares    # {"frame": 0.1, "face": 0.0, "audio": 0.6, "fusion": 0.05, "subtitle": 0.25}

The pipeline's `explain=True`, `answer_rows(..., explain=True)` and `nanoemox predict --explain` run this.

The chosen answer's tokens are teacher-forced after the clip's prompt with every branch, and with each branch the clip
has masked in turn:
    frame     the frames, and with them the fusion token (it reads frames and audio)
    face      the face crops
    audio     the speech, and with it the fusion token
    fusion    the fusion token alone, frames and audio kept (`drop_modalities=("fusion",)`, `fusion_mask`)
    subtitle  the row's `subtitle` taken out of the prompt (`rows_nanoemox.without_subtitle`), the language prior too
A branch's drop is log p(answer | all branches) - log p(answer | that branch masked). Its share is its drop divided
by the sum of the positive drops; a zero or negative drop (the answer is as likely, or likelier, without the branch)
has share 0, so the shares sum to 1. When no drop is positive, nothing in the input singles the answer out and every
share is 0 (they then sum to 0, not 1); the drops say by how much each branch fails to. A branch the clip does not
have (no audio track, silent, no face found, text only, no subtitle, or masked in the input) has share 0 and drop
None, and is listed as absent.

Cost: the media are encoded once, before `generate`; every condition reuses those encoder outputs through the feature
cache's route (`features_nanoemox`), so only the adapters, the fusion and the language model run again, for
1 + (branches present) conditions per clip, in ONE batched forward over every condition of every clip. Each condition
goes through the processor's one path (`prepare_row` with the clip's encoder features as its media, then `collate`),
so its prompt is what the processor makes for a clip that lacks the branch. The answer's tokens are embedded as
`generate`'s decode steps embed them (a plain embedding lookup).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .configuration_nanoemox import MEDIA_BRANCHES, MEDIA_INPUTS
from .features_nanoemox import clip_entry, entry_branches, without_branches
from .prepared_nanoemox import PreparedRow, SampleMedia
from .rows_nanoemox import without_subtitle
from .scoring_nanoemox import attended_positions

ATTRIBUTED_BRANCHES = ("frame", "face", "audio", "fusion", "subtitle")
# the inputs the frozen encoders read; `encode_once` puts their outputs (`encoder_features`) in their place
RAW_MEDIA = ("pixel_values_videos", "face_pixel_values", "input_values")


@dataclass
class Attribution:
    """One answer's explanation.

    shares: branch -> share of the positive log-likelihood drops (see the module docstring; 0 for an absent branch).
    drops: branch -> log p(answer | all) - log p(answer | branch masked); None for a branch the clip does not have.
    log_likelihood: log p(answer | all branches), the answer's tokens summed.
    """

    shares: dict[str, float]
    drops: dict[str, float | None]
    log_likelihood: float

    @property
    def absent(self) -> list[str]:
        """The branches the clip does not have."""
        return [branch for branch, drop in self.drops.items() if drop is None]

    def output(self) -> dict:
        """The pipeline's fields: `attribution` (the shares) and `explanation` (log-likelihood, drops, absent)."""
        return {
            "attribution": {branch: round(share, 6) for branch, share in self.shares.items()},
            "explanation": {
                "answer_log_likelihood": round(self.log_likelihood, 6),
                "drops": {b: None if d is None else round(d, 6) for b, d in self.drops.items()},
                "absent": self.absent,
            },
        }


def shares_of(drops: dict[str, float | None]) -> dict[str, float]:
    """Each branch's share of the positive drops (0 for a non-positive or absent one); all 0 when none is positive."""
    positive = {branch: drop for branch, drop in drops.items() if drop is not None and drop > 0}
    total = sum(positive.values())
    return {branch: positive.get(branch, 0.0) / total if total > 0 else 0.0 for branch in drops}


def check_explainable(model) -> None:
    """`ValueError` when the model's code predates explanations (a checkpoint saved with an older release carries
    its own code): the fusion-only condition needs its `fusion_mask` input."""
    if "fusion_mask" not in inspect.signature(model.forward).parameters:
        raise ValueError(
            f"{type(model).__module__}: this model's code has no fusion_mask input, so it cannot be explained; "
            "refresh the checkpoint's code: NanoEmoXForConditionalGeneration.from_pretrained(old).save_pretrained(new)"
        )


def encode_once(model, inputs) -> dict:
    """`inputs` with the frozen encoders' outputs (`encoder_features`) in place of the pixels and waveforms: the
    media are encoded here, once; `generate` and every masked condition then reuse them. Inputs that already carry
    encoder features (a feature cache) are returned as they are."""
    inputs = dict(inputs)
    if "encoder_features" in inputs:
        return inputs
    features = model.model.encode_media(**inputs)
    out = {key: value for key, value in inputs.items() if key not in RAW_MEDIA}
    if features:
        out["encoder_features"] = features
    return out


def answer_token_ids(generated: torch.Tensor, eos_token_id) -> list[list[int]]:
    """Each row's answer: the generated ids (b, m) up to and including the first end token (`eos_token_id`, an id or
    a list of ids; `generate` pads a finished row after it)."""
    ends = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())
    answers = []
    for row in generated.tolist():
        cut = next((j + 1 for j, token in enumerate(row) if token in ends), len(row))
        answers.append(row[:cut])
    return answers


@torch.no_grad()
def explain_answers(
    model, processor, rows: list[dict], prepared: list, inputs, answers: list[list[int]], *, media_root=None
) -> list[Attribution]:
    """One `Attribution` per row (see the module docstring).

    rows: the row dicts (`rows_nanoemox`) the prepared rows were made from, in the same order.
    prepared: their `PreparedRow`s, as `collate` batched them into `inputs`.
    inputs: that batch after `encode_once` (`encoder_features` and the media masks), on the model's device.
    answers: each row's chosen answer as token ids (`answer_token_ids` of what `generate` returned).
    media_root: as the rows were prepared with.
    """
    check_explainable(model)
    b = inputs["input_ids"].shape[0]
    if not len(rows) == len(prepared) == len(answers) == b:
        raise ValueError(f"{len(rows)} rows, {len(prepared)} prepared rows and {len(answers)} answers for {b} inputs")
    features = inputs.get("encoder_features") or {}
    masks = {key: inputs[key] for key in ("frame_mask", "face_mask", "audio_mask") if key in inputs}
    conditions: list[tuple[int, str]] = []
    variants: list[PreparedRow] = []
    for k, (row, item, answer) in enumerate(zip(rows, prepared, answers)):
        if not answer:
            raise ValueError(f"row {item.id!r}: the answer has no tokens to explain (max_new_tokens=0?)")
        entry = clip_entry(features, masks, row=k)
        for condition in ("all", *present_branches(entry, item, row)):
            variant = _condition(processor, row, item, entry, condition, media_root)
            if condition == "all" and variant.text != item.text:
                raise ValueError(
                    f"row {item.id!r}: its prompt differs from the prepared row's; give the rows in order"
                )
            variants.append(variant)
            conditions.append((k, condition))
    batch = processor.collate(variants)
    likelihoods = answer_log_likelihoods(model, batch, [answers[k] for k, _ in conditions]).tolist()
    per_row: list[dict[str, float]] = [{} for _ in rows]
    for (k, condition), value in zip(conditions, likelihoods):
        per_row[k][condition] = value
    out = []
    for values in per_row:
        full = values["all"]
        drops = {branch: full - values[branch] if branch in values else None for branch in ATTRIBUTED_BRANCHES}
        out.append(Attribution(shares=shares_of(drops), drops=drops, log_likelihood=full))
    return out


def present_branches(entry: dict, item, row: dict) -> list[str]:
    """The branches a clip has: its media in the encoder features' `entry`, the fusion token unless the frames, the
    audio or the fusion itself were left out (`item.fusion_dropped`), the subtitle when the row has one."""
    media = entry_branches(entry)
    present = {branch for branch in MEDIA_BRANCHES if branch in media}
    if {"frame", "audio"} <= present and not getattr(item, "fusion_dropped", False):
        present.add("fusion")
    subtitle = row.get("subtitle")
    if isinstance(subtitle, str) and subtitle.strip():
        present.add("subtitle")
    return [branch for branch in ATTRIBUTED_BRANCHES if branch in present]


def _condition(processor, row: dict, item, entry: dict, condition: str, media_root) -> PreparedRow:
    """The prepared row of one condition: the row (without its subtitle for "subtitle") through `prepare_row`, its
    media the clip's encoder features minus the masked branch."""
    drop = {"fusion"} if getattr(item, "fusion_dropped", False) else set()
    if condition in (*MEDIA_BRANCHES, "fusion"):
        drop.add(condition)
    if condition == "subtitle":
        row = without_subtitle(row)

    def load(sample, dropped: frozenset) -> SampleMedia:
        kept = without_branches(entry, dropped)
        # every branch the condition lacks is left out on purpose: no "branch masked" warning per condition
        missing = {branch: "dropped on request" for branch in MEDIA_BRANCHES if branch not in entry_branches(kept)}
        missing.update({branch: "dropped on request" for branch in dropped})
        return SampleMedia(features=kept, given=dict.fromkeys(MEDIA_BRANCHES, True), missing=missing)

    variant = processor.prepare_row(row, item.index, media_root=media_root, drop_modalities=drop, load=load)
    if hasattr(variant, "reason"):  # a RowError (by shape: the processor may be a checkpoint's own code)
        raise ValueError(f"condition {condition!r}: {variant}")
    return variant


def answer_log_likelihoods(model, inputs, answers: list[list[int]]) -> torch.Tensor:
    """log p(answer | prompt) per row (n,): each row's answer tokens teacher-forced after its prompt, in one forward.

    inputs: n left-padded prompts with their media (as `collate` makes them). The prompt's media are placed as at
    prefill (`embed_inputs`, placeholders checked); the answer's tokens are embedded as decode steps embed them.
    """
    device = model.device
    inputs = {key: _to(value, device) for key, value in dict(inputs).items()}
    prompt_ids, prompt_mask = inputs.pop("input_ids"), inputs.pop("attention_mask")
    n, width = len(answers), max(map(len, answers))
    answer_ids = torch.zeros((n, width), dtype=torch.long, device=device)
    answer_mask = torch.zeros((n, width), dtype=prompt_mask.dtype, device=device)
    for j, ids in enumerate(answers):
        answer_ids[j, : len(ids)] = torch.tensor(ids, device=device)
        answer_mask[j, : len(ids)] = 1
    media = {key: value for key, value in inputs.items() if key in MEDIA_INPUTS}
    prompt_embeds, _, _ = model.model.embed_inputs(prompt_ids, **media)
    embeds = torch.cat([prompt_embeds, model.get_input_embeddings()(answer_ids).to(prompt_embeds.dtype)], dim=1)
    attention_mask = torch.cat([prompt_mask, answer_mask], dim=1)
    hidden = model.model.language_model(
        inputs_embeds=embeds,
        attention_mask=attention_mask,
        position_ids=attended_positions(attention_mask),
        use_cache=False,
        return_dict=True,
    ).last_hidden_state
    logits = model.lm_head(hidden[:, -width - 1 : -1])  # the position before answer token j predicts it
    log_probs = F.log_softmax(logits.float(), dim=-1).gather(2, answer_ids[..., None]).squeeze(2)
    return (log_probs * answer_mask).sum(1).cpu()


def _to(value, device):
    """Tensors, and the tensors inside dicts and lists (encoder features), on `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _to(v, device) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value


__all__ = [
    "ATTRIBUTED_BRANCHES",
    "Attribution",
    "answer_log_likelihoods",
    "answer_token_ids",
    "check_explainable",
    "encode_once",
    "explain_answers",
    "present_branches",
    "shares_of",
]
