"""The model report states how the background prompts were chosen, from model.json."""
from declip_torch.bootstrap_package import BACKGROUND_PROMPTS, _background_text


def test_background_text_without_calibration():
    t = _background_text({"background_prompts": ["table", "wall"], "provenance": {}})
    assert '"table", "wall"' in t and "logit offset 0" in t and "synthCalibrateCli" not in t


def test_background_text_with_calibration():
    man = {"background_prompts": ["wall"], "background_logit_offset": -1.5,
           "provenance": {"background_calibration": {"settings_tried": 144, "frames": 40,
                                                      "after": {"miou": 0.2}, "before": {"miou": 0.1}}}}
    t = _background_text(man)
    assert '"wall"' in t and "logit offset -1.5" in t
    assert "144 prompt subsets x offsets" in t and "40 *training* frames: 0.200" in t and "0.100" in t
    assert str(BACKGROUND_PROMPTS) in t


def test_anchor_section_reads_the_eval_module_summaries(tmp_path):
    """train-default's anchor stage leaves RUN/oryon/NAME/summary.json; the report tabulates them."""
    import json

    from declip_torch.bootstrap_package import _anchor_rows, _anchor_section

    assert _anchor_rows(str(tmp_path)) == {}
    agg = {"count": 72, "missing": 60, "ar": 0.125, "vsd": 0.1, "mssd": 0.15, "mspd": 0.125, "addS01d": 0.2,
           "mask": {"meanIou": 0.4},
           "perObject": [{"prompt": "red mug", "ar": 0.05}, {"prompt": "green bowl", "ar": 0.3}]}
    (tmp_path / "oryon" / "oracle").mkdir(parents=True)
    (tmp_path / "oryon" / "oracle" / "summary.json").write_text(json.dumps({"aggregate": agg}))
    rows = _anchor_rows(str(tmp_path))
    assert list(rows) == ["oracle"] and rows["oracle"]["with_estimate"] == 12
    lines = []
    _anchor_section(lines.append, rows)
    table = [x for x in lines if x.startswith("| ground-truth masks, this model")]
    assert table == ["| ground-truth masks, this model's dense features (isolates the pose step) | 72 | 0.125 | "
                     "0.100 | 0.150 | 0.125 | 0.200 | 12 | 0.400 |"]
    assert "Per object, AR (oracle): red mug 0.050, green bowl 0.300." in lines
    assert not any(x.startswith("| predicted") for x in lines)  # runs that are absent are left out
