"""Pre-training of the tiny frame, face and speech encoders, for the CPU demo only.

The real checkpoint reads frames with CLIP-L (which knows objects and scenes), faces with a pretrained face backbone
(the paper's FaceXFormer is trained on facial expression among other face tasks) and speech with HuBERT-L
(pretrained on 60k hours of speech): each already turns a scene object, an expression or a tone of voice into
features an adapter can read. The tiny demo components are random, and a random encoder whose outputs are averaged
over space or time washes those cues out: measured on the demo corpus, the trained model then ignored the face and
voice branches (their tokens carried no emotion for a linear probe).

So the demo's `nanoemox init` gives the tiny encoders what pretraining gives the real ones, on data of their own
(not the demo corpus, no emotion or intent labels), rendered by the same code that makes the demo clips: whole
frames with a random scene object on a random side (CLIP: which object, which side, read from the token average of
the layer the frame adapter reads), drawn faces with random expression geometry (mouth curvature and opening, eye
opening, brow tilt and raise; the face backbone's stage maps averaged over space) and synthesized voices with
random prosody (pitch, rate, spectral tilt; HuBERT's last `audio_pool_layers` layers averaged over layers and time).
The encoders stay frozen in the curriculum afterwards, as in the paper. The demo pre-trains the face and speech
encoders (`model.init.encoder_pretrain_steps`); the frame encoder's pre-training is opt-in
(`model.init.vision_pretrain_steps`, see train/configs/demo.yaml for what it changed in one measured run).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from nanoemox.modeling.faces_nanoemox import crop_faces
from nanoemox.processing.demo_media import (
    HAIR_COLOURS,
    SCENE_OBJECTS,
    SHIRT_COLOURS,
    SKIN_TONES,
    WALL_COLOURS,
    FaceCue,
    Look,
    VoiceCue,
    render_frames,
    synthesize_voice,
)

logger = logging.getLogger(__name__)

# Ranges a little wider than the demo's expressions (neutral .. strongest prototype, plus jitter).
FACE_RANGES = {
    "curvature": (-7.0, 7.5),
    "opening": (0.0, 11.0),
    "mouth_half_width": (5.0, 12.0),
    "eye_opening": (1.5, 5.0),
    "brow_tilt": (-4.5, 6.0),
    "brow_raise": (-0.5, 4.5),
}
# Prosody targets. The processor normalises each clip (zero mean, unit variance), so loudness is not a target, and
# a time-averaged reading cannot see the pitch contour inside a syllable (measured: contour accuracy at chance), so
# contour and depth vary as nuisance instead.
VOICE_RANGES = {"f0": (95.0, 340.0), "rate": (1.7, 5.8)}  # sampled log-uniformly
VOICE_LINEAR = {"tilt": (0.5, 1.7)}
VOICE_NUISANCE = {"amplitude": (0.05, 0.6), "depth": (0.0, 0.65)}
CONTOURS = ("flat", "arch", "rise", "fall")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the processor's face normalisation (Swin's statistics)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _standardise(targets: np.ndarray) -> torch.Tensor:
    mean, std = targets.mean(0, keepdims=True), targets.std(0, keepdims=True) + 1e-6
    return torch.from_numpy((targets - mean) / std).float()


def face_examples(n: int, *, size: int, seed: int, frame_size: tuple[int, int] = (160, 128)):
    """`n` face crops (n, 3, size, size), normalised like the processor's, and their expression parameters."""
    rng = np.random.default_rng(seed)
    pixels, targets = np.empty((n, size, size, 3), dtype=np.uint8), np.empty((n, len(FACE_RANGES)), dtype=np.float32)
    objects = list(SCENE_OBJECTS)
    for i in range(n):
        values = {k: rng.uniform(lo, hi) for k, (lo, hi) in FACE_RANGES.items()}
        look = Look(
            skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
            hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
            wall=WALL_COLOURS[rng.integers(len(WALL_COLOURS))],
            shirt=SHIRT_COLOURS[rng.integers(len(SHIRT_COLOURS))],
            object_side=("left", "right")[rng.integers(2)],
        )
        frames, boxes = render_frames(
            FaceCue(**values),
            look,
            objects[rng.integers(len(objects))],
            size=frame_size,
            num_frames=1,
            phase=float(rng.uniform(0, 2 * math.pi)),
        )
        crops, _ = crop_faces(frames, boxes, margin=0.25, size=size)
        pixels[i], targets[i] = crops[0], list(values.values())
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    return x, _standardise(targets)


def voice_examples(n: int, *, seconds: float, sample_rate: int, seed: int):
    """`n` clips (n, samples), zero-mean unit-variance like the processor's, and their prosody targets."""
    rng = np.random.default_rng(seed)
    waves = np.empty((n, round(seconds * sample_rate)), dtype=np.float32)
    targets = np.empty((n, len(VOICE_RANGES) + len(VOICE_LINEAR)), dtype=np.float32)
    for i in range(n):
        logs = {k: math.exp(rng.uniform(math.log(lo), math.log(hi))) for k, (lo, hi) in VOICE_RANGES.items()}
        lin = {k: rng.uniform(lo, hi) for k, (lo, hi) in VOICE_LINEAR.items()}
        nuisance = {k: rng.uniform(lo, hi) for k, (lo, hi) in VOICE_NUISANCE.items()}
        cue = VoiceCue(**logs, **lin, **nuisance, contour=CONTOURS[rng.integers(len(CONTOURS))])
        wave = synthesize_voice(cue, duration=seconds, sample_rate=sample_rate, seed=int(rng.integers(1 << 31)))
        waves[i] = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        targets[i] = [math.log(v) for v in logs.values()] + list(lin.values())
    return torch.from_numpy(waves), _standardise(targets)


def frame_examples(n: int, *, size: int, seed: int, frame_size: tuple[int, int] = (160, 128)):
    """`n` whole frames (n, 3, size, size) preprocessed like the processor's CLIP frames, the scene object's class,
    its side, and the face's expression geometry (standardised)."""
    from transformers import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    rng = np.random.default_rng(seed)
    objects = list(SCENE_OBJECTS)
    frames, classes, sides = [], np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    geometry = np.empty((n, len(FACE_RANGES)), dtype=np.float32)
    for i in range(n):
        values = {k: rng.uniform(lo, hi) for k, (lo, hi) in FACE_RANGES.items()}
        classes[i], sides[i] = rng.integers(len(objects)), rng.integers(2)
        look = Look(
            skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
            hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
            wall=WALL_COLOURS[rng.integers(len(WALL_COLOURS))],
            shirt=SHIRT_COLOURS[rng.integers(len(SHIRT_COLOURS))],
            object_side=("left", "right")[sides[i]],
        )
        rendered, _ = render_frames(
            FaceCue(**values),
            look,
            objects[classes[i]],
            size=frame_size,
            num_frames=1,
            phase=float(rng.uniform(0, 2 * math.pi)),
        )
        frames.append(rendered[0])
        geometry[i] = list(values.values())
    pixels = processor(images=frames, return_tensors="pt")["pixel_values"]
    return pixels, torch.from_numpy(classes), torch.from_numpy(sides), _standardise(geometry)


def pretrain_frame_encoder(
    encoder, *, steps: int, feature_layer: int = -1, seed: int = 0, batch_size: int = 32, num_examples: int = 1600
) -> tuple[float, float]:
    """Teach a (tiny) CLIP vision tower what a pretrained CLIP knows about these frames: which object is in the
    scene and where, and the face's expression, read from the token average of the layer the frame adapter reads.

    Returns the held-out object accuracy and expression R^2 (also logged).
    """
    x, objects, sides, geometry = frame_examples(num_examples, size=encoder.config.image_size, seed=seed + 2)
    held = num_examples // 8
    num_objects = len(SCENE_OBJECTS)
    head = nn.Linear(encoder.config.hidden_size, num_objects + 2 + geometry.shape[1])
    generator = torch.Generator().manual_seed(seed)

    def predict(pixels):
        hidden = encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer]
        out = head(hidden.mean(1))
        return out[:, :num_objects], out[:, num_objects : num_objects + 2], out[:, num_objects + 2 :]

    def step(_):
        idx = torch.randint(held, num_examples, (batch_size,), generator=generator)
        obj, side, geo = predict(x[idx])
        return F.cross_entropy(obj, objects[idx]) + F.cross_entropy(side, sides[idx]) + F.mse_loss(geo, geometry[idx])

    encoder.train()
    parameters = list(encoder.parameters()) + list(head.parameters())
    _fit(step, parameters, steps=steps, desc="pre-training the frame encoder")
    encoder.eval()
    with torch.no_grad():
        obj, _, geo = predict(x[:held])
    accuracy, r2 = float((obj.argmax(1) == objects[:held]).float().mean()), _r2(geo, geometry[:held])
    logger.info(
        "tiny frame encoder pre-trained for %d steps: held-out object accuracy %.3f, expression R^2 %.3f",
        steps,
        accuracy,
        r2,
    )
    return accuracy, r2


def _fit(step_fn, parameters, *, steps: int, desc: str, lr: float = 1e-3) -> None:
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    for step in tqdm(range(steps), desc=desc, leave=False):
        loss = step_fn(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()


def _r2(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean coefficient of determination over the target columns (targets are standardised)."""
    return float(1 - ((pred - target) ** 2).mean(0).div(target.var(0) + 1e-6).mean())


def pretrain_face_backbone(
    backbone, *, steps: int, seed: int = 0, batch_size: int = 32, num_examples: int = 2400, lr: float = 1e-3
) -> float:
    """Teach a (tiny) face backbone to expose expression geometry in its spatially pooled stage maps.

    Returns the held-out R^2 of the geometry read linearly from the pooled maps (also logged).
    """
    size = backbone.config.image_size
    x, y = face_examples(num_examples, size=size, seed=seed)
    held = num_examples // 8
    head = nn.Linear(sum(backbone.channels), y.shape[1])
    generator = torch.Generator().manual_seed(seed)

    def pooled(pixels):
        return torch.cat([m.mean((2, 3)) for m in backbone(pixel_values=pixels).feature_maps], dim=1)

    def step(_):
        idx = torch.randint(held, num_examples, (batch_size,), generator=generator)
        return F.mse_loss(head(pooled(x[idx])), y[idx])

    backbone.train()
    parameters = list(backbone.parameters()) + list(head.parameters())
    _fit(step, parameters, steps=steps, desc="pre-training the face encoder", lr=lr)
    backbone.eval()
    with torch.no_grad():
        r2 = _r2(head(pooled(x[:held])), y[:held])
    logger.info("tiny face encoder pre-trained for %d steps: held-out R^2 of expression geometry %.3f", steps, r2)
    return r2


def pretrain_speech_encoder(
    encoder,
    *,
    steps: int,
    pool_layers: int,
    seed: int = 0,
    batch_size: int = 8,
    num_examples: int = 800,
    seconds: float = 2.0,
    sample_rate: int = 16000,
) -> float:
    """Teach a (tiny) HuBERT to expose prosody in its layer- and time-averaged output (the model's clip reading).

    Returns the held-out R^2 of the prosody parameters (pitch, rate, spectral tilt; also logged).
    """
    x, y = voice_examples(num_examples, seconds=seconds, sample_rate=sample_rate, seed=seed + 1)
    held = num_examples // 8
    head = nn.Linear(encoder.config.hidden_size, y.shape[1])
    generator = torch.Generator().manual_seed(seed)

    def predict(waves):
        hidden = encoder(input_values=waves, output_hidden_states=True).hidden_states
        return head(torch.stack(hidden[-pool_layers:]).mean(0).mean(1))

    def step(_):
        idx = torch.randint(held, num_examples, (batch_size,), generator=generator)
        return F.mse_loss(predict(x[idx]), y[idx])

    # HuBERT's layer drop can skip every layer of a 2-layer model in one step (no hidden states to read), and its
    # time masking is an augmentation for speech recognition: both off here, restored afterwards
    saved = encoder.config.layerdrop, encoder.config.mask_time_prob
    encoder.config.layerdrop, encoder.config.mask_time_prob = 0.0, 0.0
    encoder.train()
    try:
        _fit(
            step,
            list(encoder.parameters()) + list(head.parameters()),
            steps=steps,
            desc="pre-training the speech encoder",
        )
    finally:
        encoder.config.layerdrop, encoder.config.mask_time_prob = saved
        encoder.eval()
    with torch.no_grad():
        r2 = _r2(predict(x[:held]), y[:held])
    logger.info("tiny speech encoder pre-trained for %d steps: held-out R^2 of pitch, rate, tilt %.3f", steps, r2)
    return r2
