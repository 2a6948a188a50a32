"""NanoEmoX metrics for 🤗 evaluate: one module, one config per task, loadable offline by path.

    import evaluate
    from nanoemox.evaluation.scoring import EVALUATE_MODULE      # this folder, as installed

    mer = evaluate.load(str(EVALUATE_MODULE), "mer", wheels="shared/reference/emotion_wheel")
    mer.compute(predictions=["happy", "The speaker seems angry."], references=["happy", ["angry", "sad"]])

Config names: msa, mer, ov-mer (or ovmer), eri, mir, erg, jx4mei. `compute` returns exactly what
`nanoemox.evaluation.scoring.score(task, predictions, references, ...)` returns, for the same Python values: this
module is a thin wrapper, and `nanoemox` must be installed.

evaluate stores predictions and references in Arrow columns of one declared type, and `datasets.Features` has no
union type, while `score` takes, per task, a string or a list of labels (mer, ov-mer), a number, numeric text or
JSON object (msa), a dict or a string (erg, jx4mei), and `None` for a missing answer. So both columns are declared
`Value("string")` and every value is stored as its JSON text (`add`/`add_batch` encode, `_compute` decodes):
callers pass the same values as to `score`, nothing is coerced on the way.
"""

from __future__ import annotations

import json
from typing import Any

import datasets
import evaluate

from nanoemox.evaluation.scoring import normalize_task, score
from nanoemox.evaluation.wheels import as_wheels
from nanoemox.modeling.prompts_nanoemox import TASKS

_DESCRIPTION = """NanoEmoX scores of model answers for one task (the config name), as the reference code defines them:
see nanoemox.evaluation.scoring."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the model's answers: free text (msa also takes numbers and JSON objects; None is a missing answer).
    references: the gold labels, as `nanoemox.evaluation.scoring.score` takes them:
        msa a score (-0.6); mer a label ("happy") or a label list (["happy", "sad"]); ov-mer a label list or a comma
        string; eri a reason; mir an intent; erg {"emotion", "response"} or a label / gold answer string;
        jx4mei {"emotion", "intent", "explanation"} or a gold answer string.
    wheels: emotion wheel directory or `EmotionWheels` (mer hit rate, ov-mer F, erg fallback, eri label proxy);
        also accepted at load time: evaluate.load(path, "mer", wheels=...). Without it mer has no hit rate and ov-mer
        reports only the exact-set F (exact_set_* keys).
    msa_scheme: "mosi" (MOSI/MOSEI) or "sims" (CH-SIMS buckets).
    intent_labels: mir/jx4mei intent inventory, a name ("mintrec", "mintrec2", "jx4mei") or the labels.
    emotion_labels: mer label set free-text answers are matched against; jx4mei emotion inventory.
    judge: a prompt -> reply callable for the ERI LLM judge.
Returns:
    the dict of `score`: metric name -> value (nested dicts per wheel, counts of misses and unparsed answers).
Example:
    >>> import evaluate
    >>> metric = evaluate.load("evaluation/modules/nanoemox", "msa")
    >>> metric.compute(predictions=["positive (score 1.20)", -0.4, "I am not sure"], references=[1.4, -1.0, 0.0])
"""

_CITATION = """@inproceedings{nanoemox2026,
  title = {Nano-EmoX},
  note = {arXiv 2603.02123},
  year = {2026}
}"""

OPTIONS = ("wheels", "msa_scheme", "intent_labels", "emotion_labels", "judge")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, tensors
        return value.tolist()
    raise TypeError(f"cannot store {value!r} ({type(value).__name__}) as a prediction or reference")


def _encode(values: Any) -> list[str] | None:
    return None if values is None else [json.dumps(value, default=_jsonable) for value in values]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Nanoemox(evaluate.Metric):
    def __init__(self, config_name: str | None = None, **kwargs: Any) -> None:
        # load-time options (wheels=..., intent_labels=...) become the defaults of every compute call
        self.options = {name: kwargs.pop(name) for name in OPTIONS if name in kwargs}
        if self.options.get("wheels") is not None:
            self.options["wheels"] = as_wheels(self.options["wheels"])  # read the tables once
        super().__init__(config_name=config_name, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name == "default":
            raise ValueError(f"name the task as the config: evaluate.load(path, 'mer'); one of {', '.join(TASKS)}")
        self.task = normalize_task(self.config_name)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # JSON text of each value: Features have no union type (see the module docstring)
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references, the same Python values `score` takes."""
        return evaluate.Metric.add_batch(
            self, predictions=_encode(predictions), references=_encode(references), **kwargs
        )

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference, the same Python values `score` takes."""
        return evaluate.Metric.add(
            self,
            prediction=json.dumps(prediction, default=_jsonable),
            reference=json.dumps(reference, default=_jsonable),
            **kwargs,
        )

    def _compute(self, predictions, references, **options: Any) -> dict:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown}; nanoemox takes {', '.join(OPTIONS)}")
        return score(
            self.task,
            [json.loads(value) for value in predictions],
            [json.loads(value) for value in references],
            **{**self.options, **options},
        )
