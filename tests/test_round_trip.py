"""The Hub user's round trip: every save route leaves a folder that loads with `AutoModelForCausalLM`,
`AutoProcessor` and `pipeline("emotion-analysis", ...)` by path, in a process where this package cannot be imported,
and answers exactly as the saved model did (greedy decoding, same logits)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import snapshot_download
from peft import LoraConfig
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, pipeline
from trl import SFTConfig, SFTTrainer

from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from tests.model_helpers import build_tiny_checkpoint, run_without_package

# Run with `nanoemox` (and `tests`) unimportable: only the checkpoint's own code and transformers.
LOAD_AND_ANSWER = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor, pipeline
    video, out, folders = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = {}
    for folder in folders:
        model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        inputs = processor.prepare([{"task": "mer", "video": video}]).inputs
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        analyse = pipeline("emotion-analysis", model=folder, trust_remote_code=True)
        answer = analyse(video, task="mer", max_new_tokens=6, do_sample=False)
        results[folder] = {"answer": answer["generated_text"], "logits": logits.tolist(),
                           "classes": [type(model).__name__, type(processor).__name__]}
    json.dump(results, open(out, "w"))
    """
)
SAVE_ROUTES = ("model+processor", "model", "pipeline", "trainer", "sft-adapter", "sft-merged", "push_to_hub")


def answer_of(model, processor, video: str) -> dict:
    """What the saved folder must reproduce: the pipeline's greedy answer and the prompt's last logits."""
    model.eval()
    inputs = processor.prepare([{"task": "mer", "video": video}]).inputs
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    analyse = pipeline(task="emotion-analysis", model=model, processor=processor)
    answer = analyse(video, task="mer", max_new_tokens=6, do_sample=False)
    return {"answer": answer["generated_text"], "logits": logits}


def train_rows(video: str) -> list[dict]:
    return [{"task": "mer", "video": video, "answer": label} for label in ("happy", "surprise", "happy", "neutral")]


def arguments(output: Path, cls=TrainingArguments, **extra):
    return cls(
        output_dir=str(output),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=5e-2,
        remove_unused_columns=False,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        **extra,
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("round-trip"))


@pytest.mark.slow
def test_every_save_route_loads_and_answers_the_same_without_the_package(base, speech_media, tmp_path, fake_hub):
    from datasets import Dataset

    video = str(speech_media["talking"])
    processor = NanoEmoXProcessor.from_pretrained(base, trust_remote_code=True)
    dataset = Dataset.from_list(train_rows(video))
    untouched = answer_of(AutoModelForCausalLM.from_pretrained(base, trust_remote_code=True), processor, video)
    expected, folders = {}, {}

    def fresh():
        return AutoModelForCausalLM.from_pretrained(base, trust_remote_code=True)

    # model.save_pretrained + processor.save_pretrained, and model.save_pretrained alone
    model = fresh()
    folders["model+processor"] = tmp_path / "model+processor"
    model.save_pretrained(folders["model+processor"])
    processor.save_pretrained(folders["model+processor"])
    folders["model"] = tmp_path / "model"
    model.save_pretrained(folders["model"])  # the processor comes from the checkpoint the model was loaded from
    expected["model+processor"] = expected["model"] = untouched

    # the pipeline's own save
    folders["pipeline"] = tmp_path / "pipeline"
    pipeline(task="emotion-analysis", model=model, processor=processor).save_pretrained(folders["pipeline"])
    expected["pipeline"] = untouched

    # Trainer.save_model after training, without processing_class
    model = fresh()
    trainer = Trainer(
        model=model, args=arguments(tmp_path / "t"), train_dataset=dataset, data_collator=processor.collator()
    )
    trainer.train()
    folders["trainer"] = tmp_path / "trainer"
    trainer.save_model(str(folders["trainer"]))
    expected["trainer"] = answer_of(model, processor, video)

    # SFTTrainer with PEFT LoRA: the adapter alone, and merged into the base
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        task_type="CAUSAL_LM",
        target_modules=r".*language_model\.layers\.\d+\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj",
        modules_to_save=["frame_adapter", "fusion"],
    )
    sft = SFTTrainer(
        model=fresh(),
        args=arguments(tmp_path / "s", SFTConfig, bf16=False, dataset_kwargs={"skip_prepare_dataset": True}),
        train_dataset=dataset,
        data_collator=processor.collator(),
        processing_class=processor,
        peft_config=lora,
    )
    sft.train()
    folders["sft-adapter"] = tmp_path / "sft-adapter"
    sft.save_model(str(folders["sft-adapter"]))
    expected["sft-adapter"] = answer_of(sft.model, processor, video)
    merged = sft.model.merge_and_unload()
    folders["sft-merged"] = tmp_path / "sft-merged"
    merged.save_pretrained(folders["sft-merged"])
    expected["sft-merged"] = answer_of(merged, processor, video)

    # push_to_hub (to a local fake of the Hub), then downloaded as a Hub user would
    model.push_to_hub("me/nanoemox-tuned", token="hf_fake")
    folders["push_to_hub"] = Path(snapshot_download("me/nanoemox-tuned", local_dir=tmp_path / "from-hub"))
    expected["push_to_hub"] = expected["trainer"]

    assert set(folders) == set(SAVE_ROUTES)
    for route in ("trainer", "sft-adapter", "sft-merged"):  # training changed the answer's logits
        assert not torch.allclose(expected[route]["logits"], untouched["logits"]), route
    for route, folder in folders.items():  # the code and the processor travel with the weights
        names = {p.name for p in folder.iterdir()}
        assert {"processor_config.json", "tokenizer.json", "processing_nanoemox.py"} <= names, (route, names)
        if route != "sft-adapter":
            assert {"config.json", "model.safetensors", "pipeline_nanoemox.py", "modeling_nanoemox.py"} <= names
            assert {"requirements.txt", "video_nanoemox.py", "collator_nanoemox.py"} <= names, (route, names)

    out = tmp_path / "answers.json"
    run_without_package(LOAD_AND_ANSWER, video, out, *folders.values(), folder=tmp_path)
    remote = json.loads(out.read_text())
    for route, folder in folders.items():
        got = remote[str(folder)]
        assert got["classes"] == ["NanoEmoXForConditionalGeneration", "NanoEmoXProcessor"], route
        assert got["answer"] == expected[route]["answer"], route
        torch.testing.assert_close(
            torch.tensor(got["logits"]), expected[route]["logits"], rtol=1e-4, atol=1e-4, msg=route
        )
