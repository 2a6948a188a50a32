"""NanoEmoXProcessor: from rows of media and text (or a raw video file) to model inputs, by one path.

    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    batch = processor.prepare([{"task": "mer", "video": "clip.mp4", "subtitle": "I can't believe it!"}])
    batch.inputs        # model inputs of the rows that could be read (None when none could)
    batch.errors        # one `RowError` (row, file, reason) per row that could not; the others are not held up
    # transformers' conventions, the same path underneath:
    inputs = processor.apply_chat_template(processor.build_messages("mer", video="clip.mp4"), tokenize=True)
    inputs = processor(text=[prompt_with_placeholders], videos=["clip.mp4"])

`prepare` is what the pipeline, the evaluation runner, the training collator and the feature cache all call. A row
is a dict (task, messages or prompt, video, audio, faces, subtitle, answer; see `rows_nanoemox`). With
`training=True` the rows' answers are kept and `labels` mark them; otherwise each prompt ends where the answer
begins.

Per sample the processor samples `num_frames` frames by seeking, takes the speech from `audio` or from the
video's own audio track (16 kHz mono, cut into `num_audio_clips` windows of `audio_clip_seconds`), finds one
face track (bundled OpenCV Haar cascade; or the caller's boxes, face-track JSON or crops), and expands each
branch placeholder in the text to that branch's token count. A branch whose modality is missing for a sample
(no audio track, silence, no face) is masked and its placeholder removed, with a logged warning; a placeholder
whose media was never given, a corrupt file or an unsupported input is an error naming the sample and the file.

With `num_key_frames` k > 0 (Emotion-Qwen's facial emotion capture, FEC) the k sampled frames whose face scores
highest on `fec_scorer` are appended after the regular frames in temporal order, everything outside the face region
filled with the image processor's mean colour (zero after normalisation); slots without a key frame (no face, or
fewer faces than k; ready face crops, which carry no position) are masked. The frame placeholder count is unchanged.

Outputs (b samples, t frames, c clips, s samples per clip):
    input_ids, attention_mask                     (b, n)        left-padded
    labels                                        (b, n)        training only: the answer's tokens, -100 elsewhere
    pixel_values_videos, frame_mask               (b, t + k, 3, H, W), (b, t + k)    k = num_key_frames (0: off)
    face_pixel_values, face_mask                  (b, t, 3, h, w), (b, t)
    input_values, audio_mask                      (b, c, s), (b, c)
    prior_input_ids, prior_mask                   (b, l)        the subtitles, for prior-initialised adapters
    fusion_mask                                   (b,)          False where the fusion token was dropped on request
    encoder_features                              instead of the pixels and waveforms, from a feature cache
A media key is present when at least one sample of the batch has that modality; `fusion_mask` when at least one
sample's fusion token was dropped (`drop_modalities=("fusion",)`) while its frames and audio stay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .audio_nanoemox import cut_audio_clips, load_audio
from .configuration_nanoemox import BRANCHES, IGNORE_INDEX, MEDIA_BRANCHES, MEDIA_INPUTS, PLACEHOLDER_TOKENS
from .container_nanoemox import describe_source, is_file_source
from .faces_nanoemox import FACE_DETECTORS, FEC_SCORERS, KeyFrames, capture_key_frames, get_face_crops_and_boxes
from .features_nanoemox import batch_entries
from .prepared_nanoemox import PreparedBatch, PreparedRow, RowError, SampleMedia, fusion_dropped
from .prompts_nanoemox import DEFAULT_TASK_LABELS, DEFAULT_TASK_PROMPTS, build_messages
from .requirements_nanoemox import check_media_requirements, require
from .rows_nanoemox import Sample, read_row
from .video_nanoemox import VideoFrames, load_video_frames

logger = logging.getLogger(__name__)


def _as_list(value, batch: int, name: str) -> list:
    if value is None:
        return [None] * batch
    if not isinstance(value, (list, tuple)) or (name == "audio" and _is_array_with_rate(value)):
        value = [value]
    if len(value) != batch:
        raise ValueError(f"{name}: got {len(value)} entries for {batch} texts; give one per sample (None for none)")
    return list(value)


def _is_array_with_rate(value) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], (np.ndarray, torch.Tensor))
        and not isinstance(value[1], (np.ndarray, torch.Tensor))
    )


class NanoEmoXProcessor(ProcessorMixin):
    r"""
    Wraps the tokenizer, the frame image processor (CLIP), the face image processor (the face backbone's) and
    the speech feature extractor (HuBERT's), plus the media steps of `video_nanoemox`, `audio_nanoemox` and
    `faces_nanoemox`.

    Args:
        image_processor: frames -> CLIP pixel values.
        face_image_processor: face crops -> face-backbone pixel values.
        feature_extractor: 16 kHz waveform clips -> speech encoder input values.
        tokenizer: with the four branch placeholders as special tokens.
        chat_template (`str`): the Jinja chat template (defaults to the tokenizer's).
        num_frames, num_audio_clips, audio_clip_seconds: media layout, as in the model config.
        num_frame_tokens, num_face_tokens, num_audio_tokens, num_fusion_tokens: placeholder expansion.
        face_margin (`float`): crop margin around a detected face box, as a fraction of its size.
        num_key_frames (`int`): FEC key frames appended to the frames (0: off), as in the model config.
        fec_scorer (`str`): the FEC expressiveness scorer, a name in `faces_nanoemox.FEC_SCORERS`.
        silence_db (`float`): a clip quieter than this (dBFS RMS) is masked.
        task_prompts (`dict`): the task prompt templates (editable; `{subtitle}` is filled in).
        face_detector (`str`): "haar" (OpenCV's bundled cascade, the default) or "hog" (dlib's detector, `pip install
            dlib-bin`: several times faster, misses faces under about 80 pixels); see `faces_nanoemox`.
        face_anchor_frames (`int`): the face detector runs on this many evenly spaced frames and the face is tracked
            between them (0: detect on every frame).
        task_labels (`dict`): per closed-set task, the labels whose probabilities the pipeline reports (default:
            `DEFAULT_TASK_LABELS`, MER2023's emotions, MIntRec's intents, msa polarity; a curriculum writes those of
            its training data).
    """

    _auto_class = "AutoProcessor"  # save_pretrained writes the auto_map and this code beside the processor

    def __init__(
        self,
        image_processor=None,
        face_image_processor=None,
        feature_extractor=None,
        tokenizer=None,
        chat_template: str | None = None,
        num_frames: int = 8,
        num_audio_clips: int = 8,
        audio_clip_seconds: float = 2.0,
        num_frame_tokens: int = 32,
        num_face_tokens: int = 4,
        num_audio_tokens: int = 32,
        num_fusion_tokens: int = 1,
        face_margin: float = 0.25,
        silence_db: float = -50.0,
        task_prompts: dict[str, str] | None = None,
        num_key_frames: int = 0,
        fec_scorer: str = "haar_smile",
        face_detector: str = "haar",
        face_anchor_frames: int = 2,
        task_labels: dict[str, list[str]] | None = None,
        **kwargs,
    ):
        check_media_requirements()
        if chat_template is None and tokenizer is not None:
            chat_template = tokenizer.chat_template
        if isinstance(num_key_frames, bool) or not isinstance(num_key_frames, int) or num_key_frames < 0:
            raise ValueError(f"num_key_frames must be a non-negative int, got {num_key_frames!r}")
        if fec_scorer not in FEC_SCORERS:
            raise ValueError(f"fec_scorer={fec_scorer!r}: expected one of {sorted(FEC_SCORERS)}")
        if face_detector not in FACE_DETECTORS:
            raise ValueError(f"face_detector={face_detector!r}: expected one of {FACE_DETECTORS}")
        if face_detector == "hog":
            require("dlib")  # fail at load time, naming the package, rather than at the first clip
        if isinstance(face_anchor_frames, bool) or not isinstance(face_anchor_frames, int) or face_anchor_frames < 0:
            raise ValueError(f"face_anchor_frames must be a non-negative int, got {face_anchor_frames!r}")
        self.face_detector = face_detector
        self.face_anchor_frames = face_anchor_frames
        self.task_labels = {
            task: list(labels) for task, labels in {**DEFAULT_TASK_LABELS, **(task_labels or {})}.items()
        }
        self.num_key_frames = num_key_frames
        self.fec_scorer = fec_scorer
        self.num_frames = num_frames
        self.num_audio_clips = num_audio_clips
        self.audio_clip_seconds = audio_clip_seconds
        self.num_frame_tokens = num_frame_tokens
        self.num_face_tokens = num_face_tokens
        self.num_audio_tokens = num_audio_tokens
        self.num_fusion_tokens = num_fusion_tokens
        self.face_margin = face_margin
        self.silence_db = silence_db
        self.task_prompts = dict(task_prompts or DEFAULT_TASK_PROMPTS)
        super().__init__(
            image_processor, face_image_processor, feature_extractor, tokenizer, chat_template=chat_template
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model_config(cls, config, tokenizer) -> NanoEmoXProcessor:
        """A processor whose sizes and token counts follow a `NanoEmoXConfig` (used by `nanoemox init`)."""
        from transformers import CLIPImageProcessorPil, ViTImageProcessorPil, Wav2Vec2FeatureExtractor

        size = config.vision_config.image_size
        face_size = config.face_config.image_size
        image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        )
        face_image_processor = ViTImageProcessorPil(  # Swin was trained with ImageNet statistics
            size={"height": face_size, "width": face_size},
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
        )
        feature_extractor = Wav2Vec2FeatureExtractor(
            sampling_rate=config.audio_sampling_rate, do_normalize=True, return_attention_mask=False
        )
        return cls(
            image_processor=image_processor,
            face_image_processor=face_image_processor,
            feature_extractor=feature_extractor,
            tokenizer=tokenizer,
            num_frames=config.num_frames,
            num_audio_clips=config.num_audio_clips,
            audio_clip_seconds=config.audio_clip_seconds,
            num_frame_tokens=config.num_frame_tokens,
            num_face_tokens=config.num_face_tokens,
            num_audio_tokens=config.num_audio_tokens,
            num_fusion_tokens=config.num_fusion_tokens,
            num_key_frames=getattr(config, "num_key_frames", 0),
            fec_scorer=getattr(config, "fec_scorer", "haar_smile"),
        )

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", *MEDIA_INPUTS]

    def build_messages(self, task: str, **kwargs) -> list[dict]:
        """Chat messages for one of the tasks with this processor's (editable) prompts."""
        return build_messages(task, task_prompts=self.task_prompts, **kwargs)

    def collator(self, **kwargs):
        """A training collator on this processor (`NanoEmoXCollator`, shipped with the checkpoint's code): rows in,
        batches with labels on the answers out. kwargs: media_root, feature_cache, drop_modalities."""
        from .collator_nanoemox import NanoEmoXCollator

        return NanoEmoXCollator(self, **kwargs)

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`ProcessorMixin.save_pretrained` (the processor, its tokenizer and this code), but the tokenizer's own
        config keeps no `auto_map`: the tokenizer is a plain Qwen2 one, which `AutoTokenizer` should not mistake for
        remote code (transformers copies the processor's auto_map into every sub-config it saves)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        path = Path(save_directory) / "tokenizer_config.json"
        if path.exists():
            config = json.loads(path.read_text())
            if config.pop("auto_map", None) is not None:
                path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return out

    # ------------------------------------------------------------------ rows -> batch (the one path)
    def prepare(
        self,
        rows: list[dict],
        *,
        training: bool = False,
        media_root=None,
        drop_modalities: tuple[str, ...] | frozenset = (),
        load: Callable[[Sample, frozenset], SampleMedia] | None = None,
        add_generation_prompt: bool | None = None,
    ) -> PreparedBatch:
        """Model inputs for `rows` (see `rows_nanoemox`); a row whose media cannot be read is reported, not raised.

        training: keep each row's answer and return `labels` on it (a row without one is a `ValueError`).
        media_root: the folder relative media paths are relative to (a row's `_media_root` overrides it).
        drop_modalities: branches left out of every row, as for rows that lack them: "frame", "face", "audio" (the
            fusion token needs frames and audio, so dropping either drops it too), or "fusion" (the fusion token
            alone; frames and audio stay, and the batch's `fusion_mask` tells the model).
        load: how a row's media are read, `(sample, drop) -> SampleMedia` (default `load_sample`; a feature cache
            gives encoder features instead).
        add_generation_prompt: end each prompt with the assistant's turn (default: when not training).

        The same as `collate` of `prepare_row` of every row, minus the rows that could not be read; a DataLoader does
        it in two steps (`prepare_row` in its workers, `collate` in the main process). A row that cannot make a prompt
        at all (no task, messages or prompt; no answer to train on) is a `ValueError` naming the row and the column: a
        dataset format error, not a bad clip.
        """
        options = dict(
            training=training,
            media_root=media_root,
            drop_modalities=drop_modalities,
            load=load,
            add_generation_prompt=add_generation_prompt,
        )
        prepared = [self.prepare_row(row, index, **options) for index, row in enumerate(rows)]
        good = [p for p in prepared if isinstance(p, PreparedRow)]
        return PreparedBatch(
            inputs=self.collate(good, labels=training) if good else None,
            rows=[p.index for p in good],
            tasks=[p.task for p in good],
            errors=[p for p in prepared if isinstance(p, RowError)],
        )

    def prepare_row(
        self,
        row: dict,
        index: int = 0,
        *,
        training: bool = False,
        media_root=None,
        drop_modalities: tuple[str, ...] | frozenset = (),
        load: Callable[[Sample, frozenset], SampleMedia] | None = None,
        add_generation_prompt: bool | None = None,
    ) -> PreparedRow | RowError:
        """One row of `prepare`: read it, load its media, expand its placeholders, normalise its pixels and waveform.
        Returns a `PreparedRow`, or a `RowError` when its media cannot be read. All of the per-row work: what a
        DataLoader runs in its worker processes."""
        drop = self._drop_set(drop_modalities)
        sample = read_row(row, index, media_root=media_root, training=training, task_prompts=self.task_prompts)
        if add_generation_prompt is None:
            add_generation_prompt = not training
        text = self.tokenizer.apply_chat_template(
            sample.messages,
            chat_template=self.chat_template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt and not sample.has_answer,
        )
        try:
            loaded = (load or self.load_sample)(sample, drop)
            text = self._expand(sample.name, text, loaded)
        except ValueError as err:
            source = next((s for s in (sample.video, sample.audio) if isinstance(s, str)), None)
            logger.warning("%s left out: %s", sample.name, err)
            return RowError(index=index, id=sample.id, reason=str(err), source=source)
        return PreparedRow(
            index=index,
            id=sample.id,
            task=sample.task,
            text=text,
            media={} if loaded.features is not None else self._media_inputs(loaded),
            prior=sample.subtitle,
            features=loaded.features,
            fusion_dropped=fusion_dropped(loaded),
        )

    def __call__(
        self,
        text: str | list[str] | None = None,
        videos=None,
        audio=None,
        faces=None,
        *,
        priors: list[str | None] | None = None,
        return_tensors: str = "pt",
        padding: bool | str = True,
        drop_modalities: tuple[str, ...] = (),
        **kwargs,
    ) -> BatchFeature:
        """Model inputs for texts that already hold the branch placeholders (see `apply_chat_template`).

        text: one string or a list, with the branch placeholders.
        videos: per sample a path, bytes, decoded frames ((t, h, w, 3) uint8 array or list of PIL images) or None.
        audio: per sample a path, bytes, `(array, sampling_rate)` or None (None: the video's audio track).
        faces: per sample None (detect), a face track (JSON path / list of {"time", "box"}), per-frame boxes, or
            ready crops.
        priors: per sample a language prior (the subtitle or a caption) for adapters whose queries start from
            text (`lq_former`, `cat_mod`); returned as `prior_input_ids` / `prior_mask`.
        drop_modalities: branches to leave out for every sample ("frame", "face", "audio", "fusion"): their
            placeholders are removed and their media not loaded, as for a sample that lacks them (modality ablation);
            see `prepare`.

        Unlike `prepare`, the first sample that cannot be read raises `ValueError` naming it ("sample i: ...").
        """
        drop = self._drop_set(drop_modalities)
        if text is None:
            raise ValueError("text is required (it carries the task prompt and the media placeholders)")
        texts = [text] if isinstance(text, str) else list(text)
        batch = len(texts)
        videos = _as_list(videos, batch, "videos")
        audios = _as_list(audio, batch, "audio")
        faces = _as_list(faces, batch, "faces")
        priors = _as_list(priors, batch, "priors") if priors is not None else [None] * batch
        prepared = []
        for i, (t, v, a, f, prior) in enumerate(zip(texts, videos, audios, faces, priors)):
            try:
                loaded = self.load_media(v, a, f, drop=drop)
            except ValueError as err:
                raise ValueError(f"sample {i}: {err}") from None
            text = self._expand(f"sample {i}", t, loaded)
            media, dropped = self._media_inputs(loaded), fusion_dropped(loaded)
            prepared.append(PreparedRow(i, str(i), None, text, media, prior, loaded.features, fusion_dropped=dropped))
        return self.collate(prepared, return_tensors=return_tensors, padding=padding, **kwargs)

    def apply_chat_template(
        self,
        conversation: list[dict] | list[list[dict]],
        chat_template: str | None = None,
        *,
        tokenize: bool = False,
        add_generation_prompt: bool | None = None,
        return_dict: bool = True,
        faces=None,
        **kwargs,
    ):
        """Render TRL/transformers-style messages; with `tokenize=True` also load their media (through `prepare`).

        A `{"type": "video", "path": ...}` part becomes the four branch placeholders, an `{"type": "audio",
        "path": ...}` part the speech placeholder (or, beside a video, the source of that video's speech).
        With `tokenize=True` a sample that cannot be read raises `ValueError` naming it and the file.
        """
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = list(conversation) if batched else [conversation]
        if add_generation_prompt is None:  # prompt for an answer unless the conversation already holds one
            add_generation_prompt = conversations[0][-1]["role"] != "assistant"
        if not tokenize:
            texts = [
                self.tokenizer.apply_chat_template(
                    c,
                    chat_template=chat_template or self.chat_template,
                    tokenize=False,
                    add_generation_prompt=add_generation_prompt,
                )
                for c in conversations
            ]
            return texts if batched else texts[0]
        faces = _as_list(faces, len(conversations), "faces")
        rows = [{"messages": c, "faces": f} for c, f in zip(conversations, faces)]
        batch = self.prepare(
            rows,
            training=all(c[-1]["role"] == "assistant" for c in conversations),
            add_generation_prompt=add_generation_prompt,
            drop_modalities=kwargs.pop("drop_modalities", ()),
        )
        if batch.errors:
            raise ValueError(str(batch.errors[0]))
        inputs = batch.inputs
        inputs.pop("labels", None)
        return inputs if return_dict else inputs["input_ids"]

    # ------------------------------------------------------------------ media of one sample
    def load_sample(self, sample: Sample, drop: frozenset = frozenset()) -> SampleMedia:
        """The media of a row read by `rows_nanoemox.read_row` (the default loader of `prepare`)."""
        return self.load_media(sample.video, sample.audio, sample.faces, drop=drop)

    def load_media(self, video=None, audio=None, faces=None, *, drop: frozenset = frozenset()) -> SampleMedia:
        """Decode one sample's media: frames, face crops (and FEC key frames), audio clips.

        Branches in `drop` are neither decoded nor returned (modality ablation). Raises `ValueError` naming the
        file for a missing, corrupt or unsupported source; a missing modality (no audio track, silence, no face) is
        not an error but a `missing` reason.
        """
        out = SampleMedia()
        out.given = {
            "frame": video is not None or "frame" in drop,
            "face": video is not None or "face" in drop,
            "audio": audio is not None or video is not None or "audio" in drop,
        }
        frames = None
        if video is not None and not {"frame", "face"} <= drop:
            frames = load_video_frames(video, self.num_frames)
        if "audio" not in drop:
            self._load_audio(out, video, audio)
        if frames is not None:
            if "frame" not in drop:
                out.frames = frames
            if "face" not in drop or (self.num_key_frames and "frame" not in drop):
                size = self.face_image_processor.size
                crop_size = int(size.get("height", size.get("shortest_edge", 224)))
                crops, mask, boxes = get_face_crops_and_boxes(
                    frames,
                    faces,
                    margin=self.face_margin,
                    size=crop_size,
                    detector=self.face_detector,
                    anchor_frames=self.face_anchor_frames,
                )
                if "face" not in drop:
                    if mask.any():
                        out.faces = (crops, mask)
                    else:
                        out.missing["face"] = f"no face found in {frames.source}"
                if self.num_key_frames and "frame" not in drop:
                    out.key_frames = self._key_frames(frames, boxes)
        elif faces is not None and video is None:
            raise ValueError("faces were given without a video; give the video they belong to")
        for branch in drop:
            out.missing[branch] = "dropped on request"
        return out

    def _load_audio(self, out: SampleMedia, video, audio) -> None:
        source = audio
        if source is None and video is not None:
            if is_file_source(video):
                source = video
            else:
                out.missing["audio"] = "the video was given as decoded frames, which carry no audio"
                return
        if source is None:
            return
        track = load_audio(source, sampling_rate=self.sampling_rate)
        if track is None:
            out.missing["audio"] = f"{describe_source(source)} has no audio track"
            return
        clips, mask = cut_audio_clips(
            track.waveform,
            num_clips=self.num_audio_clips,
            clip_seconds=self.audio_clip_seconds,
            sampling_rate=self.sampling_rate,
            silence_db=self.silence_db,
        )
        if mask.any():
            out.audio = (clips, mask)
        else:
            out.missing["audio"] = f"{describe_source(source)} is silent"

    def _key_frames(self, frames: VideoFrames, boxes) -> KeyFrames:
        """FEC key frames of one sample; none when the faces came as ready crops (`boxes` None)."""
        if boxes is None:
            boxes = [None] * len(frames)
        mean = getattr(self.image_processor, "image_mean", None) or (0.0, 0.0, 0.0)
        fill = tuple(int(round(255 * float(m))) for m in mean)  # the mean colour: zero after normalisation
        keys = capture_key_frames(
            frames, boxes, self.num_key_frames, scorer=self.fec_scorer, margin=self.face_margin, fill=fill
        )
        if len(keys) < self.num_key_frames:
            logger.info(
                "%s: %d of %d FEC key frames (too few frames with a face position)",
                frames.source,
                len(keys),
                self.num_key_frames,
            )
        return keys

    @staticmethod
    def _drop_set(drop_modalities) -> frozenset:
        drop = frozenset(drop_modalities)
        unknown = drop - set(BRANCHES)
        if unknown:
            raise ValueError(f"drop_modalities: unknown branches {sorted(unknown)}; use {', '.join(BRANCHES)}")
        return drop

    # ------------------------------------------------------------------ text
    def _expand(self, name: str, text: str, media: SampleMedia) -> str:
        """`text` with each placeholder expanded to its branch's token count, or removed where `media` lacks it."""
        counts = {b: text.count(tok) for b, tok in PLACEHOLDER_TOKENS.items()}
        for branch, n in counts.items():
            if n > 1:
                raise ValueError(
                    f"{name}: {n} {PLACEHOLDER_TOKENS[branch]} placeholders; one clip per sample takes exactly one"
                )
        for branch in MEDIA_BRANCHES:
            has_placeholder = counts[branch] == 1
            if media.has(branch) and not has_placeholder:
                raise ValueError(
                    f"{name}: {branch} media was given but the text has no {PLACEHOLDER_TOKENS[branch]}; "
                    "use apply_chat_template or put the placeholder where the media belongs"
                )
            if has_placeholder and not media.given.get(branch):
                raise ValueError(
                    f"{name}: the text has {PLACEHOLDER_TOKENS[branch]} but no {branch} media was given "
                    f"(pass {'audio=' if branch == 'audio' else 'videos='} for this sample)"
                )
            reason = media.missing.get(branch)
            if has_placeholder and not media.has(branch) and reason != "dropped on request":
                logger.warning("%s: %s branch masked: %s", name, branch, reason or "not available")
        if media.has("fusion") and counts["fusion"] == 0:
            raise ValueError(f"{name}: frames and audio were given but the text has no {PLACEHOLDER_TOKENS['fusion']}")
        for branch, token in PLACEHOLDER_TOKENS.items():
            n = getattr(self, f"num_{branch}_tokens") if media.has(branch) else 0
            text = text.replace(token, token * n)
        return text

    # ------------------------------------------------------------------ batch
    def collate(
        self,
        prepared: list[PreparedRow],
        *,
        labels: bool = False,
        return_tensors: str = "pt",
        padding: bool | str = True,
        **kwargs,
    ) -> BatchFeature:
        """Batch prepared rows: tokenise their texts (left-padded), stack their media inputs (zeros and a False mask
        where a row lacks a branch) or their encoder features, tokenise their priors; `fusion_mask` when a row's fusion
        token was dropped; `labels` on the answers."""
        data = dict(
            self.tokenizer(
                [p.text for p in prepared],
                padding=padding,
                padding_side="left",
                return_tensors=return_tensors,
                **kwargs,
            )
        )
        cached = [p.features is not None for p in prepared]
        if any(cached):
            if not all(c or not p.media for c, p in zip(cached, prepared)):
                raise ValueError("a batch mixes decoded media and cached encoder features; use one loader per batch")
            features, masks = batch_entries([p.features for p in prepared], num_frames=self.num_frames)
            data.update({**({"encoder_features": features} if features else {}), **masks})
        else:
            data.update(self._stack_media([p.media for p in prepared]))
        data.update(self.prior_tensors([p.prior for p in prepared]))
        if any(p.fusion_dropped for p in prepared):
            data["fusion_mask"] = torch.tensor([not p.fusion_dropped for p in prepared])
        if labels:
            data["labels"] = self.answer_labels(data["input_ids"], data["attention_mask"])
        return BatchFeature(data=data, tensor_type=return_tensors)

    def media_tensors(self, media: list[SampleMedia]) -> dict[str, Any]:
        """The media inputs of a batch of decoded samples: pixel values, waveform clips and their masks."""
        return self._stack_media([self._media_inputs(m) for m in media])

    def _media_inputs(self, media: SampleMedia) -> dict[str, torch.Tensor]:
        """One sample's media inputs with a batch size of 1, for the branches it has."""
        t, k = self.num_frames, self.num_key_frames
        out: dict[str, torch.Tensor] = {}
        if media.frames is not None:
            values = self.image_processor(images=list(media.frames.frames), return_tensors="pt")["pixel_values"]
            pixels = values.new_zeros((1, t + k, *values.shape[1:]))
            mask = torch.zeros(1, t + k, dtype=torch.bool)
            pixels[0, : len(values)] = values[:t]
            mask[0, : min(len(values), t)] = True
            keys = media.key_frames
            if k and keys is not None and len(keys):  # FEC key frames after the t regular frames
                key_values = self.image_processor(images=list(keys.frames), return_tensors="pt")["pixel_values"]
                n = min(len(key_values), k)
                pixels[0, t : t + n] = key_values[:n]
                mask[0, t : t + n] = True
            out["pixel_values_videos"], out["frame_mask"] = pixels, mask
        if media.faces is not None:
            crops, valid = media.faces
            values = self.face_image_processor(images=list(crops), return_tensors="pt")["pixel_values"]
            pixels = values.new_zeros((1, t, *values.shape[1:]))
            pixels[0, : len(values)] = values[:t]
            mask = torch.zeros(1, t, dtype=torch.bool)
            mask[0, : len(valid)] = torch.from_numpy(np.asarray(valid[:t], dtype=bool))
            out["face_pixel_values"], out["face_mask"] = pixels, mask
        if media.audio is not None:
            clips, valid = media.audio
            feats = self.feature_extractor(
                list(clips), sampling_rate=self.sampling_rate, return_tensors="np", padding=False
            )["input_values"]
            values = torch.as_tensor(np.stack(feats), dtype=torch.float32)[None]
            mask = torch.from_numpy(np.asarray(valid, dtype=bool))[None].clone()
            values[~mask] = 0.0  # masked clips carry nothing (normalising silence amplifies noise)
            out["input_values"], out["audio_mask"] = values, mask
        return out

    @staticmethod
    def _stack_media(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack per-row media inputs (batch size 1 each) into a batch; a row without a branch gets zeros there."""
        out: dict[str, torch.Tensor] = {}
        for values_key, mask_key in (
            ("pixel_values_videos", "frame_mask"),
            ("face_pixel_values", "face_mask"),
            ("input_values", "audio_mask"),
        ):
            first = next((r for r in rows if values_key in r), None)
            if first is None:
                continue
            zeros, no = (
                first[values_key][0].new_zeros(first[values_key].shape[1:]),
                first[mask_key][0].new_zeros(first[mask_key].shape[1:]),
            )
            out[values_key] = torch.stack([r[values_key][0] if values_key in r else zeros for r in rows])
            out[mask_key] = torch.stack([r[mask_key][0] if mask_key in r else no for r in rows])
        return out

    def prior_tensors(self, priors: list[str | None] | None, max_length: int = 32) -> dict[str, torch.Tensor]:
        """`prior_input_ids` / `prior_mask` (b, l), right-padded, for the prior-initialised adapters."""
        if priors is None or not any(priors):
            return {}
        tokens = self.tokenizer(
            [p or "" for p in priors],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
            padding_side="right",
            add_special_tokens=False,
        )
        return {"prior_input_ids": tokens["input_ids"], "prior_mask": tokens["attention_mask"].bool()}

    def answer_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Training targets: the tokens after the last `<|im_start|>assistant\\n` (the answer and its `<|im_end|>`),
        -100 everywhere else (system, prompt, media placeholders, padding)."""
        im_start = self.tokenizer.convert_tokens_to_ids("<|im_start|>")
        offset = len(self.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        for i, row in enumerate(input_ids):
            starts = (row == im_start).nonzero().flatten()
            if len(starts):
                begin = int(starts[-1]) + offset
                labels[i, begin:] = row[begin:]
        return labels.masked_fill(attention_mask == 0, IGNORE_INDEX)


__all__ = ["NanoEmoXProcessor", "PreparedBatch", "PreparedRow", "RowError", "SampleMedia"]
