"""Timelines of long videos: windows snapped to speech pauses, each answered by the batched `emotion-analysis`
pipeline, written as JSON, WebVTT and a PNG chart.

    nanoemox timeline talk.mp4 --model ckpt/ --task mer --output talk-timeline/ [--window 4 --stride 2] [--explain]

    windows.py   the video's length and tracks, its loudness, where the windows go (snapped to pauses)
    media.py     one window's frames and audio, by seeking (never the whole video)
    run.py       the windows through the pipeline: entries, gaps, coverage
    outputs.py   timeline.json, timeline.vtt, timeline.png
    cli.py       the `nanoemox timeline` command
"""
