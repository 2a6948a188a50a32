"""What the benchmark's sections share: the preset, the model and processor (built once), a clip and its inputs."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import BatchFeature, GenerationConfig

from nanoemox.chat_template import add_placeholder_tokens
from nanoemox.compose import compose_checkpoint
from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.tiny.components import save_tiny_components
from nanoemox.tiny.configs import TINY_ARCH
from nanoemox.tiny.tokenizer import train_tiny_tokenizer

from .presets import SMALL_ARCH, Preset, save_small_components

logger = logging.getLogger(__name__)

SUBTITLE = "I can't believe you actually did that for me!"


@dataclass
class Bench:
    """What the sections share: the preset, the model (built once), the processor, a clip and its inputs."""

    preset: Preset
    workdir: Path
    threads: int
    video: str | None = None
    model: NanoEmoXForConditionalGeneration | None = None
    processor: NanoEmoXProcessor | None = None
    folder: str | None = None  # checkpoint folder (tiny/small): the pipeline loads from it
    clip: dict | None = None
    inputs: dict | None = None
    demo: Path | None = None
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- model
    def build(self) -> None:
        if self.model is not None:
            return
        start = time.perf_counter()
        if self.preset.name in ("tiny", "small"):
            components = self.workdir / "components"
            if self.preset.name == "tiny":
                paths, arch = save_tiny_components(components), TINY_ARCH
            else:
                paths, arch = save_small_components(components), SMALL_ARCH
            self.folder = str(self.workdir / f"ckpt-{self.preset.name}")
            compose_checkpoint(self.folder, **paths, arch=arch)
            self.model = NanoEmoXForConditionalGeneration.from_pretrained(self.folder).eval()
            self.processor = NanoEmoXProcessor.from_pretrained(self.folder, trust_remote_code=True)
        else:
            # the published shapes with random weights; the tiny tokenizer stands in for Qwen's (no download),
            # so the placeholder ids are the tiny tokenizer's (all inside Qwen's vocabulary)
            tokenizer = train_tiny_tokenizer()
            ids = add_placeholder_tokens(tokenizer)
            config = NanoEmoXConfig(**{f"{k}_token_id": v for k, v in ids.items()})
            logger.info("building the full-size model with random weights (fp32, ~9.2 GB; about a minute)")
            torch.manual_seed(0)
            self.model = NanoEmoXForConditionalGeneration(config).eval()
            self.model.generation_config = GenerationConfig(pad_token_id=tokenizer.pad_token_id)
            self.processor = NanoEmoXProcessor.from_model_config(config, tokenizer)
            self.notes.append("full preset: random weights, tiny tokenizer in place of Qwen's (prompt lengths differ)")
        self.model.requires_grad_(False)  # inference; the loader section enables the adapters it trains
        self.cache["build_seconds"] = time.perf_counter() - start
        logger.info("%s model ready in %.1f s", self.preset.name, self.cache["build_seconds"])

    @property
    def config(self) -> NanoEmoXConfig:
        return self.model.config

    @property
    def pad_id(self) -> int | None:
        return self.processor.tokenizer.pad_token_id

    def prepare(self, rows: list[dict]) -> BatchFeature:
        """Model inputs for `rows` through the processor's one path (`prepare`); a row it cannot read is an error."""
        batch = self.processor.prepare(rows)
        if batch.errors:
            raise ValueError(f"benchmark clip unreadable: {batch.errors[0]}")
        return batch.inputs

    # ---------------------------------------------------------------- media
    def demo_corpus(self, num_clips: int = 16) -> Path:
        if self.demo is None:
            from nanoemox.processing.demo_corpus import generate_demo_corpus

            self.demo = self.workdir / "demo"
            generate_demo_corpus(self.demo, num_clips=num_clips, seed=0, progress=False)
        return self.demo

    def demo_clips(self, n: int) -> list[dict]:
        """n demo clips as pipeline inputs (rows without the task): video path, face track and subtitle (clips repeat
        if n > corpus)."""
        from datasets import load_from_disk

        root = self.demo_corpus()
        rows = []
        for split in load_from_disk(str(root)).values():
            rows += [r for r in split if r["task"] == "mer"]
        rows.sort(key=lambda r: r["id"])
        out = []
        for i in range(n):
            r = rows[i % len(rows)]
            out.append(
                {"video": str(root / r["video"]), "faces": str(root / r["face_track"]), "subtitle": r["subtitle"]}
            )
        return out

    def clip_path(self) -> tuple[str, str]:
        """A real clip: `--video`, else the astronaut + espeak-ng clip of tests/media.py (a source checkout with
        espeak-ng), else a demo-corpus clip. Returns (path, description)."""
        if self.video:
            return self.video, "--video"
        builder = _tests_media()
        if builder is not None and shutil.which("espeak-ng"):
            (self.workdir / "media").mkdir(parents=True, exist_ok=True)
            path = builder.talking_mp4(self.workdir / "media")
            return str(path), "tests/media.py talking.mp4 (astronaut photo, espeak-ng speech, 320x320, 25 fps)"
        return self.demo_clips(1)[0]["video"], "demo corpus clip (160x128, 8 fps, 3 s)"

    def clip_inputs(self) -> dict:
        """Processor outputs for one clip with the MER prompt (the context of the decode and prefill sections)."""
        if self.inputs is None:
            self.build()
            path, source = self.clip_path()
            self.inputs = dict(self.prepare([{"task": "mer", "video": path, "subtitle": SUBTITLE}]))
            self.clip = {"path": path, "source": source, "prompt_tokens": int(self.inputs["input_ids"].shape[1])}
            logger.info("clip: %s (%d prompt tokens)", source, self.clip["prompt_tokens"])
        return self.inputs


def _tests_media():
    """tests/media.py of a source checkout (not installed with the package), or None."""
    try:
        from tests import media as builder

        return builder
    except ImportError:
        pass
    path = Path(__file__).resolve().parents[2] / "tests" / "media.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("nanoemox_bench_test_media", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:  # scikit-image missing
        return None
    return module
