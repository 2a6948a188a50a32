"""Label probabilities: how likely the model finds each candidate answer, from one prefill of the prompt (its media
encoded once) and one batched forward of every candidate over the shared KV cache.

    log_likelihoods = candidate_log_likelihoods(model, inputs, [["happy", "sad", "angry"]], tokenizer)
    probabilities = log_likelihoods[0].softmax(-1)            # over the row's candidates
    sequences, log_likelihoods = generate_and_score(model, inputs, candidates, tokenizer, max_new_tokens=8)

A candidate's log-likelihood is the sum of the log-probabilities of its tokens as the start of the answer (after
`<|im_start|>assistant\\n`), followed by the end of the answer (`<|im_end|>`) when the candidate is a whole answer
(`complete=True`; an msa polarity word is only the answer's first word). Normalising over a row's candidates gives a
distribution over the label set. Positions follow the attention mask, so a left-padded batch scores every row as it
would be scored alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ANSWER_END = "<|im_end|>"


def attended_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding: the i-th attended token of a row is at position i."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def crop_cache(cache, length: int) -> None:
    """Cut a KV cache back to its first `length` positions (transformers 5 crops by a negative count of positions to
    remove; earlier releases took the length to keep)."""
    remove = cache.get_seq_length() - length
    if remove <= 0:
        return
    try:
        cache.crop(-remove)
    except ValueError:
        cache.crop(length)


@torch.no_grad()
def candidate_log_likelihoods(
    model, inputs, candidates: list[list[str]], tokenizer, *, complete: bool | list[bool] = True
) -> list[torch.Tensor]:
    """The log-likelihood of each row's candidate answers, as a (k_i,) tensor per row.

    inputs: the model inputs of b prompts that end where the answer begins (`add_generation_prompt=True`, as
        `processor.prepare` makes them), media included.
    candidates: per row, its candidate answers (an empty list: the row is not scored).
    complete: per row (or for all rows), whether a candidate is the whole answer (its end token is scored too).

    Runs the prompts' prefill itself; after `generate`, `score_after_prefill` reuses generate's own cache instead.
    """
    prefill = model(**inputs, position_ids=attended_positions(inputs["attention_mask"]), use_cache=True)
    cache = getattr(prefill, "past_key_values", None) or prefill.cache
    return score_after_prefill(
        model, cache, inputs["attention_mask"], prefill.logits[:, -1], candidates, tokenizer, complete=complete
    )


@torch.no_grad()
def score_after_prefill(
    model,
    cache,
    attention_mask: torch.Tensor,
    first_logits: torch.Tensor,
    candidates: list[list[str]],
    tokenizer,
    *,
    complete: bool | list[bool] = True,
) -> list[torch.Tensor]:
    """`candidate_log_likelihoods` from a prefill already run: `cache` holds the b prompts (exactly; crop a cache that
    went on generating), `attention_mask` (b, n) is theirs, `first_logits` (b, V) the logits of the answer's first
    token. The cache is consumed (expanded to one row per candidate)."""
    b = attention_mask.shape[0]
    if len(candidates) != b:
        raise ValueError(f"{len(candidates)} candidate lists for {b} prompts")
    complete = [complete] * b if isinstance(complete, bool) else list(complete)
    first = F.log_softmax(first_logits.float(), dim=-1)
    end = tokenizer.convert_tokens_to_ids(ANSWER_END)
    tokens, rows = [], []
    for i, labels in enumerate(candidates):
        for label in labels:
            ids = tokenizer(label, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"row {i}: the candidate label {label!r} has no tokens")
            tokens.append(ids + ([end] if complete[i] else []))
            rows.append(i)
    if not tokens:
        return [torch.zeros(0) for _ in candidates]
    width, k, device = max(map(len, tokens)), len(tokens), attention_mask.device
    candidate_ids = torch.full((k, width), tokenizer.pad_token_id or 0, dtype=torch.long, device=device)
    candidate_mask = torch.zeros((k, width), dtype=attention_mask.dtype, device=device)
    for j, ids in enumerate(tokens):
        candidate_ids[j, : len(ids)] = torch.tensor(ids, device=device)
        candidate_mask[j, : len(ids)] = 1
    index = torch.tensor(rows, device=device)
    cache.reorder_cache(index)  # row i's prompt cache, once per candidate of row i
    prompt_mask = attention_mask[index]
    positions = prompt_mask.long().sum(-1, keepdim=True) + torch.arange(width, device=device)[None]
    out = model(
        input_ids=candidate_ids,
        attention_mask=torch.cat([prompt_mask, candidate_mask], dim=1),
        position_ids=positions,
        past_key_values=cache,
    )
    scores = first[index].gather(1, candidate_ids[:, :1]).squeeze(1)
    if width > 1:  # the logits at candidate token j score token j + 1
        later = F.log_softmax(out.logits[:, :-1].float(), dim=-1)
        following = later.gather(2, candidate_ids[:, 1:, None]).squeeze(2)
        scores = scores + (following * candidate_mask[:, 1:]).sum(1)
    result, at = [], 0
    for labels in candidates:
        result.append(scores[at : at + len(labels)].cpu())
        at += len(labels)
    return result


@torch.no_grad()
def generate_and_score(
    model, inputs, candidates: list[list[str]], tokenizer, *, complete: bool | list[bool] = True, **generate_kwargs
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """`model.generate(**inputs, **generate_kwargs)`'s sequences (b, n + m), and each row's candidate log-likelihoods
    (as `candidate_log_likelihoods`) scored on generate's own cache, cropped back to the prompts: no second prefill,
    the media encoded once. The log-likelihoods are None when no row has candidates."""
    if not any(candidates):
        return model.generate(**inputs, **generate_kwargs), None
    out = model.generate(**inputs, **generate_kwargs, return_dict_in_generate=True, output_logits=True)
    cache = getattr(out, "past_key_values", None) or out.cache
    crop_cache(cache, inputs["input_ids"].shape[1])
    log_likelihoods = score_after_prefill(
        model, cache, inputs["attention_mask"], out.logits[0], candidates, tokenizer, complete=complete
    )
    return out.sequences, log_likelihoods


def label_probabilities(log_likelihoods: torch.Tensor, labels: list[str]) -> dict[str, float]:
    """{label: probability}, normalised over the candidates (softmax of their log-likelihoods)."""
    probabilities = torch.softmax(log_likelihoods.double(), dim=-1)
    return {label: round(float(p), 6) for label, p in zip(labels, probabilities)}


__all__ = [
    "attended_positions",
    "candidate_log_likelihoods",
    "crop_cache",
    "generate_and_score",
    "label_probabilities",
    "score_after_prefill",
]
