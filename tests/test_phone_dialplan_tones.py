"""Dial plan (digit maps, feature codes) and per-country tone plans."""

import pytest

from usbphone.events import TONES
from usbphone.phone.dialplan import DialPlan, DialPlanError, DigitMap, FeatureCodes
from usbphone.phone.tones import TONE_NAMES, countries, tone_plan


def test_digit_map_complete_partial_none():
    m = DigitMap(("600", "1xx", "0[1-9]xxx", "9x."))
    assert m.match("6") == "partial"
    assert m.match("60") == "partial"
    assert m.match("600") == "complete"
    assert m.match("601") == "none"
    assert m.match("12") == "partial"
    assert m.match("123") == "complete"
    assert m.match("00") == "none"
    assert m.match("0123") == "partial"
    assert m.match("01234") == "complete"
    assert m.match("9") == "partial"  # 9x. can always grow
    assert m.match("9123456") == "partial"


def test_digit_map_sets_and_star():
    m = DigitMap(("*[5-7]x", "[13]#"))
    assert m.match("*51") == "complete"
    assert m.match("*81") == "none"
    assert m.match("3#") == "complete"
    assert m.match("2#") == "none"


@pytest.mark.parametrize("bad", ["[12", ".1", "1..", "x-", "[]", "[9-1]"])
def test_digit_map_errors_name_the_pattern(bad):
    with pytest.raises(DialPlanError, match="digit map"):
        DigitMap((bad,))


def test_feature_codes_validate():
    with pytest.raises(DialPlanError):
        FeatureCodes(redial="*78").validate()
    with pytest.raises(DialPlanError):
        FeatureCodes(redial="*x").validate()


def test_dialplan_decide_and_finish():
    plan = DialPlan(("600",))
    assert plan.decide("600").action == "send"
    assert plan.decide("60").action == "wait"
    assert plan.decide("*7").action == "wait"  # prefix of *78/*79/*76
    d = plan.decide("*78")
    assert (d.action, d.feature) == ("feature", "dnd_on")
    assert plan.decide("*0").feature == "redial"
    assert plan.finish("*2100").action == "send"  # no held call: an ordinary number
    d = plan.finish("*2100", held_call=True)
    assert (d.action, d.feature, d.argument) == ("feature", "blind_transfer", "100")
    assert plan.decide("*21", held_call=True).action == "wait"


def test_tone_plans_cover_every_tone_the_phone_commands():
    phone_tones = TONES - {"off"}
    assert set(TONE_NAMES) == phone_tones
    for country in countries():
        plan = tone_plan(country)
        assert set(plan) == phone_tones, country
        for name, spec in plan.items():
            assert spec.freqs and all(0 < f < 4000 for f in spec.freqs), (country, name)
            assert len(spec.cadence) % 2 == 0, (country, name)


def test_tone_values_and_cadence():
    us, de = tone_plan("US"), tone_plan("de")
    assert us["dial"].freqs == (350, 440) and us["dial"].continuous
    assert us["busy"].cadence == (0.5, 0.5) and us["busy"].is_on(0.2) and not us["busy"].is_on(0.7)
    assert us["reorder"].cadence == (0.25, 0.25)
    assert de["dial"].freqs == (425,)
    assert de["ringback"].is_on(0.5) and not de["ringback"].is_on(2.0) and de["ringback"].is_on(5.5)
    confirm = us["confirm"]
    assert not confirm.repeat and confirm.is_on(0.05) and not confirm.is_on(0.65)
    assert tone_plan("gb") == tone_plan("uk")
    with pytest.raises(KeyError, match="known"):
        tone_plan("xx")
