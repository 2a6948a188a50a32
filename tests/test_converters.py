"""Converters: real annotation files (skipped when the shared folder is absent), hand-written fixtures for
every other format (each with bad rows), and the `nanoemox data convert` CLI.

    pytest tests/test_converters.py -q
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from datasets import DatasetDict, load_from_disk

from nanoemox.processing.convert import main, run_conversion
from nanoemox.processing.converters import CONVERTERS, Converted, MediaResolver, Reject, get_converter
from nanoemox.processing.converters.mertools import parse_label_list

try:
    from tests.reference_files import reference_dir
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from reference_files import reference_dir
from nanoemox.processing.schema import FEATURES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "converters"


@pytest.fixture(scope="module")
def annotations() -> Path:
    """The folder of the real annotation files (shared/reference/annotations, else the repository's copy)."""
    return reference_dir("annotations", "MIntRec_test_MIntRec_ann.json")


def _rows(result) -> dict[str, dict]:
    return {row["id"]: row for rows in result.splits.values() for row in rows}


def _answer(row: dict) -> str:
    assert row["messages"][-1]["role"] == "assistant"
    return row["messages"][-1]["content"][0]["text"]


# --------------------------------------------------------------------------------------------------
# real annotation files


def test_emer_real_file(annotations: Path):
    path = annotations / "EMER_gt-eng.csv"
    with path.open(encoding="utf-8") as f:
        raw = list(csv.DictReader(f))
    result = run_conversion("emer", path, progress=False)
    assert result.summary.source_rows == len(raw) == result.summary.kept + result.summary.rejected
    rows = _rows(result)
    assert len(rows) == len(raw) - len(result.rejects)
    for src in (raw[0], raw[1], raw[-1]):
        row = rows[f"emer-{src['names']}"]
        assert row["task"] == "eri" and row["source"] == "emer"
        assert row["labels"]["reason"] == src["reasons"].strip() == _answer(row)
        assert row["labels"]["emotion"] == src["emotions"]
        assert row["subtitle"] == src["subtitles"].strip()
        assert src["subtitles"].strip() in row["messages"][0]["content"][-1]["text"]


def test_merr_real_file_eri_and_mer(annotations: Path):
    path = annotations / "MERR_MERR_fine_grained.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    eri = run_conversion("merr", path, progress=False)
    mer = run_conversion("merr-mer", path, progress=False)
    for result in (eri, mer):
        assert result.summary.source_rows == len(raw)
        assert result.summary.kept == len(raw) - result.summary.rejected
    eri_rows, mer_rows = _rows(eri), _rows(mer)
    for name in ("sample_00000023", "sample_00000047", list(raw)[-1]):
        src = raw[name]
        row = eri_rows[f"merr-{name}"]
        assert row["task"] == "eri" and _answer(row) == src["smp_reason_caption"].strip()
        assert row["labels"]["emotion"] == src["pseu_emotion"] and row["subtitle"] == src["text"].strip()
        meta = json.loads(row["meta"])
        assert meta["AU_list"] == src["AU_list"] and meta["peak_AU_list"] == src["peak_AU_list"]
        assert meta["visual_prior_list"] == src["visual_prior_list"]
        assert meta["audio_prior_list"] == src["audio_prior_list"] and meta["peak_index"] == int(src["peak_index"])
        mer_row = mer_rows[f"merr-mer-{name}"]
        assert mer_row["task"] == "mer" and _answer(mer_row) == src["pseu_emotion"]


@pytest.mark.parametrize(
    ("fmt", "filename", "prefix"),
    [
        ("mintrec", "MIntRec_test_MIntRec_ann.json", "mintrec"),
        ("mintrec2", "MIntRec2_test_MIntRec2_ann.json", "mintrec2"),
    ],
)
def test_mintrec_messages_real_files(annotations: Path, fmt: str, filename: str, prefix: str):
    path = annotations / filename
    raw = json.loads(path.read_text(encoding="utf-8"))
    result = run_conversion(fmt, path, progress=False)
    assert result.summary.source_rows == len(raw)
    assert set(result.splits) == {"test"}  # from the file name
    rows = _rows(result)
    assert len(rows) == len(raw) - len(result.rejects)
    for src in raw[:3] + raw[-2:]:
        row = rows[f"{prefix}-{Path(src['videos'][0]).stem}"]
        assert row["task"] == "mir"
        assert row["labels"]["intent"] == src["messages"][1]["content"] == _answer(row)
        assert row["subtitle"] == src["messages"][0]["content"]
        assert row["video"] == src["videos"][0]  # no media root: the source path is kept as is
    # without a media root the authors' absolute paths do not exist here: reported, not fatal
    assert result.summary.missing_media == len(rows)


def test_mintrec_messages_rebased_onto_media_root(annotations: Path, tmp_path: Path):
    path = annotations / "MIntRec_test_MIntRec_ann.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    first, second = Path(raw[0]["videos"][0]), Path(raw[1]["videos"][0])
    (tmp_path / "MIntRec" / "video").mkdir(parents=True)
    (tmp_path / "MIntRec" / "video" / first.name).write_bytes(b"")  # found by relative tail
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / second.name).write_bytes(b"")  # found by file name
    result = run_conversion("mintrec", path, media_root=tmp_path, progress=False)
    rows = _rows(result)
    assert rows[f"mintrec-{first.stem}"]["video"] == str(tmp_path.resolve() / "MIntRec" / "video" / first.name)
    assert rows[f"mintrec-{second.stem}"]["video"] == str(tmp_path.resolve() / "elsewhere" / second.name)
    video_part = rows[f"mintrec-{first.stem}"]["messages"][0]["content"][0]
    assert video_part == {
        "type": "video",
        "path": str(tmp_path.resolve() / "MIntRec/video" / first.name),
        "text": None,
    }
    assert result.summary.missing_media == len(raw) - 2


def test_dfew_real_file():
    annotations = reference_dir("annotations", "DFEW_annotation.xlsx", required_in_ci=False)  # not redistributed
    import openpyxl

    path = annotations / "DFEW_annotation.xlsx"
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    raw = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    header, body = list(raw[0]), raw[1:]
    col = header.index("label")
    result = run_conversion("dfew", path, progress=False)
    assert result.summary.source_rows == len(body)
    assert result.summary.rejected == sum(1 for r in body if r[col] == 0)
    assert result.summary.rejected_by_reason == {"no single label": result.summary.rejected}
    assert result.summary.kept == len(body) - result.summary.rejected
    first_reject = result.rejects[0]
    assert body[first_reject.line - 2][col] == 0 and first_reject.unit == "row"
    rows = _rows(result)
    classes = {int(h[0]): h[1:] for h in header if h and h[0].isdigit()}
    for src in (body[0], body[1], body[-1]):
        order, label = src[header.index("order")], src[col]
        if label:
            assert _answer(rows[f"dfew-{order:05d}"]) == classes[label]


# --------------------------------------------------------------------------------------------------
# hand-written fixtures: (format, input, kept ids, [(line, reason), ...] of the rejects)

CASES = [
    (
        "mer2023",
        "mer2023",
        {"mer2023-sample_00000007", "mer2023-sample_00000021", "mer2023-sample_00000039", "mer2023-sample_00001001"},
        [(4, "missing emotion"), (6, "duplicate id")],
    ),
    (
        "mer2024",
        "mer2024/label-disdim.csv",
        {"mer2024-sample_00003001", "mer2024-sample_00003002"},
        [(3, "missing name")],
    ),
    (
        "ov-merd",
        "ov-merd/check-openset.csv",
        {"ov-merd-sample_00000007", "ov-merd-sample_00000220", "ov-merd-sample_00000302"},
        [(4, "empty label list"), (5, "unparseable label list")],
    ),
    ("emer", "emer", {"emer-sample_00000648", "emer-sample_00000680"}, [(4, "missing reason")]),
    (
        "merr",
        "merr/MERR_small.json",
        {"merr-sample_00000023"},
        [(2, "missing smp_reason_caption"), (3, "sample is not an object")],
    ),
    (
        "meld",
        "meld",
        {"meld-test-dia0_utt0", "meld-test-dia0_utt1", "meld-test-dia1_utt0"},
        [(4, "unknown emotion"), (5, "bad Dialogue_ID/Utterance_ID")],
    ),
    (
        "iemocap",
        "iemocap",
        {"iemocap-Ses01F_impro01_F000", "iemocap-Ses01F_impro01_F002", "iemocap-Ses01F_impro01_M001"},
        [(7, "no emotion label"), (12, "unknown emotion code"), (14, "malformed evaluation line")],
    ),
    (
        "mosi",
        "mosi/label.csv",
        {"mosi-03bSnISJMiM_1", "mosi-03bSnISJMiM_2", "mosi-0h-zjBukYpk_2"},
        [(5, "label is not a number"), (6, "label out of range")],
    ),
    ("sims", "sims", {"sims-video_0001_0001", "sims-video_0001_0002"}, [(4, "label out of range")]),
    (
        "mintrec",
        "mintrec",
        {"mintrec-S04_E01_12", "mintrec-S05_E02_7", "mintrec-S06_E04_70"},
        [(3, "too few columns"), (3, "missing intent")],
    ),
    (
        "mintrec2",
        "mintrec2/dev.tsv",
        {"mintrec2-dia15_utt0", "mintrec2-dia15_utt1"},
        [(4, "out-of-scope intent"), (5, "bad dialogue/utterance id")],
    ),
    (
        "mintrec",
        "mintrec_json",
        {"mintrec-S06_E04_70", "mintrec-S05_E18_121"},
        [(3, "messages must end with an assistant turn after a user turn"), (4, "missing intent")],
    ),
    (
        "crema-d",
        "crema-d/clips.txt",
        {"crema-d-1001_DFA_ANG_XX", "crema-d-1001_IEO_HAP_HI", "crema-d-1091_WSI_SAD_MD"},
        [(4, "unknown emotion code"), (5, "file name not actor_sentence_emotion_level")],
    ),
    (
        "avamerg",
        "avamerg/train.json",
        {"avamerg-00012_1"},
        [(1, "missing response"), (2, "conversation without turns")],
    ),
]


@pytest.mark.parametrize(("fmt", "rel", "kept", "rejects"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_fixture_conversion(fmt: str, rel: str, kept: set[str], rejects: list[tuple[int, str]]):
    result = run_conversion(fmt, FIXTURES / rel, progress=False)
    assert set(_rows(result)) == kept
    assert sorted((r.line, r.reason) for r in result.rejects) == sorted(rejects)
    assert result.summary.source_rows == len(kept) + len(rejects)
    for reject in result.rejects:
        assert Path(reject.file).exists() and reject.detail is not None


def test_fixture_labels_and_messages():
    rows = _rows(run_conversion("mer2023", FIXTURES / "mer2023", progress=False))
    row = rows["mer2023-sample_00000007"]
    assert (row["task"], _answer(row), row["subtitle"]) == ("mer", "happy", "That's great, really!")
    assert json.loads(row["meta"])["valence"] == 2.4
    assert json.loads(rows["mer2023-sample_00001001"]["meta"])["valence"] is None  # test3 has no valence
    split_of = {
        r["id"]: s
        for s, rs in run_conversion("mer2023", FIXTURES / "mer2023", progress=False).splits.items()
        for r in rs
    }
    assert split_of["mer2023-sample_00001001"] == "test3" and split_of["mer2023-sample_00000007"] == "train"

    rows = _rows(run_conversion("ov-merd", FIXTURES / "ov-merd", progress=False))
    assert rows["ov-merd-sample_00000007"]["labels"]["ov_emotions"] == ["excited", "joyful", "happy"]
    assert _answer(rows["ov-merd-sample_00000302"]) == "worried, anxious"

    result = run_conversion("mosi", FIXTURES / "mosi", progress=False)
    assert {s: len(r) for s, r in result.splits.items()} == {"test": 1, "train": 1, "validation": 1}
    assert _answer(_rows(result)["mosi-0h-zjBukYpk_2"]) == "positive (score 2.80)"
    sims = _rows(run_conversion("sims", FIXTURES / "sims", progress=False))["sims-video_0001_0001"]
    assert sims["labels"]["sentiment"] == pytest.approx(-2.4)  # [-1, 1] -> [-3, 3]
    assert json.loads(sims["meta"])["label"] == -0.8 and json.loads(sims["meta"])["label_A"] == -1.0

    iemocap = _rows(run_conversion("iemocap", FIXTURES / "iemocap", progress=False))
    row = iemocap["iemocap-Ses01F_impro01_F002"]
    assert (_answer(row), row["subtitle"], row["video"]) == ("frustrated", "Is there a problem?", None)
    assert row["audio"] == "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F002.wav"
    assert json.loads(row["meta"])["vad"] == [2.0, 3.5, 3.5]

    meld = _rows(run_conversion("meld", FIXTURES / "meld", progress=False))["meld-test-dia0_utt1"]
    assert (_answer(meld), meld["subtitle"]) == ("anger", "Oh. That's so Monica can keep track.")
    assert meld["video"] == "output_repeated_splits_test/dia0_utt1.mp4"
    assert json.loads(meld["meta"])["speaker"] == "Rachel"

    erg = _rows(run_conversion("avamerg", FIXTURES / "avamerg", progress=False))["avamerg-00012_1"]
    assert _answer(erg).startswith("<think>The speaker feels devastated.</think>\nThat sounds really hard.")
    assert erg["video"] == "dia00012utt2_3.mp4" and erg["subtitle"] == "speaker: I lost our biggest client today."

    crema = _rows(run_conversion("crema-d", FIXTURES / "crema-d/clips.txt", progress=False))["crema-d-1001_DFA_ANG_XX"]
    assert (crema["video"], crema["audio"], crema["subtitle"]) == (
        None,
        "1001_DFA_ANG_XX.wav",
        "Don't forget a jacket.",
    )
    assert [p["type"] for p in crema["messages"][0]["content"]] == ["audio", "text"]

    mir = _rows(run_conversion("mintrec2", FIXTURES / "mintrec2", progress=False))["mintrec2-dia15_utt1"]
    assert _answer(mir) == "Praise" and json.loads(mir["meta"])["speaker"] == "Monica"


def test_crema_d_folder_is_its_own_media_root(tmp_path: Path):
    for name in ("1001_DFA_ANG_XX.wav", "1002_ITS_NEU_XX.wav", "readme_not_a_clip.wav"):
        (tmp_path / name).write_bytes(b"")
    result = run_conversion("crema-d", tmp_path, progress=False)
    rows = _rows(result)
    assert set(rows) == {"crema-d-1001_DFA_ANG_XX", "crema-d-1002_ITS_NEU_XX"}
    assert rows["crema-d-1001_DFA_ANG_XX"]["audio"] == str(tmp_path.resolve() / "1001_DFA_ANG_XX.wav")
    assert [(r.line, r.unit, r.detail) for r in result.rejects] == [(3, "file", "readme_not_a_clip.wav")]
    assert result.summary.missing_media == result.summary.unverified_media == 0


def test_dfew_bad_rows(tmp_path: Path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["1happy", "2sad", "3neutral", "order", "label"])
    sheet.append([9, 1, 0, 1, 1])
    sheet.append([0, 5, 5, 2, 0])
    sheet.append([0, 0, 10, "x", 3])
    sheet.append([0, 0, 10, 4, 9])
    sheet.append([0, 0, 10, 5, 3])
    workbook.save(tmp_path / "annotation.xlsx")
    result = run_conversion("dfew", tmp_path / "annotation.xlsx", progress=False)
    assert set(_rows(result)) == {"dfew-00001", "dfew-00005"}
    assert [(r.line, r.reason) for r in result.rejects] == [
        (3, "no single label"),
        (4, "bad clip order"),
        (5, "unknown label"),
    ]
    assert json.loads(_rows(result)["dfew-00001"]["meta"])["votes"] == {"happy": 9, "sad": 1, "neutral": 0}


def test_media_resolver(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "clip.mp4").write_bytes(b"")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "dup.mp4").write_bytes(b"")
    (tmp_path / "a" / "dup.mp4").write_bytes(b"")
    root = tmp_path.resolve()
    assert MediaResolver(None).resolve("rel/clip.mp4") == "rel/clip.mp4"
    media = MediaResolver(tmp_path)
    assert media.resolve("/somewhere/else/a/b/clip.mp4") == str(root / "a/b/clip.mp4")  # relative tail
    assert media.resolve("nope.mp4", "clip.mp4") == str(root / "a/b/clip.mp4")  # by unique file name
    assert media.resolve("dup.mp4") == str(root / "dup.mp4")  # two files of that name: not guessed
    assert media.find("dup.mp4") is None and media.ambiguous >= 1
    assert media.resolve(None) is None


def test_parse_label_list_and_registry():
    assert parse_label_list("['Happy', 'happy', ' sad ']") == ["happy", "sad"]
    assert parse_label_list("angry; mad") == ["angry", "mad"]
    with pytest.raises(ValueError, match="not a list literal"):
        parse_label_list("[1, ")
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        get_converter("nope")
    records = list(CONVERTERS["emer"](FIXTURES / "emer"))
    assert [type(r) for r in records] == [Converted, Converted, Reject]


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_dataset_rejects_and_summary(tmp_path: Path, capsys):
    out = tmp_path / "meld"
    assert main(["--format", "meld", "--input", str(FIXTURES / "meld"), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "kept      3" in printed and "rejected  2" in printed and "unknown emotion" in printed
    dataset = load_from_disk(str(out))
    assert isinstance(dataset, DatasetDict) and list(dataset) == ["test"]
    assert dataset["test"].features == FEATURES
    assert dataset["test"][0]["id"] == "meld-test-dia0_utt0" and dataset["test"][0]["labels"]["emotion"] == "surprise"
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(4, "unknown emotion"), (5, "bad Dialogue_ID/Utterance_ID")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kept"] + summary["rejected"] == summary["source_rows"] == 5
    assert summary["unverified_media"] == 3  # relative paths, no --media-root
    # a non-empty output is not overwritten silently
    assert main(["--format", "meld", "--input", str(FIXTURES / "meld"), "--output", str(out)]) == 2


def test_cli_split_and_limit(tmp_path: Path):
    out = tmp_path / "mosi"
    argv = ["--format", "mosi", "--input", str(FIXTURES / "mosi"), "--output", str(out), "--no-progress"]
    assert main([*argv, "--split", "dev", "--limit", "2"]) == 0
    dataset = load_from_disk(str(out))
    assert list(dataset) == ["validation"] and dataset["validation"].num_rows == 2
    assert json.loads((out / "summary.json").read_text())["limited"] is True


def test_cli_strict_missing_media(tmp_path: Path, capsys):
    media = tmp_path / "media"
    (media / "output_repeated_splits_test").mkdir(parents=True)
    (media / "output_repeated_splits_test" / "dia0_utt0.mp4").write_bytes(b"")
    argv = ["--format", "meld", "--input", str(FIXTURES / "meld"), "--media-root", str(media), "--no-progress"]

    # not strict: missing media is reported and the dataset is written
    assert main([*argv, "--output", str(tmp_path / "lenient")]) == 0
    missing = [json.loads(line) for line in (tmp_path / "lenient" / "missing_media.jsonl").read_text().splitlines()]
    assert {m["id"] for m in missing} == {"meld-test-dia0_utt1", "meld-test-dia1_utt0"}
    row = load_from_disk(str(tmp_path / "lenient"))["test"][0]
    assert row["video"] == str(media.resolve() / "output_repeated_splits_test" / "dia0_utt0.mp4")

    # strict: exit 1, a clear message, nothing saved
    capsys.readouterr()
    assert main([*argv, "--output", str(tmp_path / "strict"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "--strict: 2 missing" in err and "meld-test-dia0_utt1" in err
    assert not (tmp_path / "strict").exists()

    # strict with every clip present: success
    for name in ("dia0_utt1.mp4", "dia1_utt0.mp4"):
        (media / "output_repeated_splits_test" / name).write_bytes(b"")
    assert main([*argv, "--output", str(tmp_path / "ok"), "--strict"]) == 0

    # strict without a media root: relative paths cannot be verified
    argv_no_root = ["--format", "meld", "--input", str(FIXTURES / "meld"), "--no-progress", "--strict"]
    assert main([*argv_no_root, "--output", str(tmp_path / "noroot")]) == 1
    assert "pass --media-root" in capsys.readouterr().err


def test_cli_all_rejected_still_has_features(tmp_path: Path):
    bad = tmp_path / "test_sent_emo.csv"
    bad.write_text("Utterance,Emotion,Dialogue_ID,Utterance_ID\nhi,bored,0,0\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--format", "meld", "--input", str(bad), "--output", str(out), "--no-progress"]) == 0
    dataset = load_from_disk(str(out))
    assert dataset["train"].num_rows == 0 and dataset["train"].features == FEATURES


def test_cli_missing_input(tmp_path: Path, capsys):
    assert main(["--format", "emer", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
