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
