"""EnergySum: the one place where request energies are added up, with one rule for the method."""

from greentts.energy.accounting import EnergyReport, EnergySum


def _report(joules: float, method: str) -> EnergyReport:
    return EnergyReport(joules, joules / 3.6e6, joules / 3.6e6 * 400, method, {}, 1.0, 400.0, 1.0, "test", "cpu")


def test_sums_reports_and_dicts_with_one_rule_for_the_method():
    total = EnergySum()
    assert total.as_dict() == {"joules": 0.0, "kwh": 0.0, "gco2e": 0.0, "method": "", "cache": "off",
                               "cache_hits": 0, "cache_misses": 0, "avoided_joules": 0.0, "avoided_gco2e": 0.0,
                               "avoided_method": "", "parts": {}}
    total.add(_report(10.0, "estimated"))
    total.add(None)  # a stream that reported nothing
    total.add(_report(5.0, "estimated").as_dict())
    assert total.method == "estimated" and abs(total.joules - 15.0) < 1e-12
    assert abs(total.kwh - 15.0 / 3.6e6) < 1e-15 and abs(total.gco2e - 15.0 / 3.6e6 * 400) < 1e-12
    total.add({"joules": 1.0, "kwh": 0.0, "gco2e": 0.0, "method": "measured"})
    assert total.method == "mixed" and total.as_dict()["joules"] == 16.0


def test_a_mixed_part_makes_the_whole_mixed():
    total = EnergySum()
    total.add(_report(1.0, "mixed"))
    assert total.method == "mixed"


def test_what_the_audio_cache_avoided_is_summed_apart_from_what_was_spent():
    total = EnergySum()
    total.add({"joules": 1.0, "kwh": 0.0, "gco2e": 0.0, "method": "estimated", "cache_hits": 2, "cache_misses": 0,
               "avoided_joules": 9.0, "avoided_gco2e": 0.001, "avoided_method": "estimated"})
    total.add({"joules": 4.0, "kwh": 0.0, "gco2e": 0.0, "method": "estimated", "cache_hits": 0, "cache_misses": 3})
    d = total.as_dict()
    assert d["joules"] == 5.0 and d["avoided_joules"] == 9.0 and d["avoided_method"] == "estimated"
    assert (d["cache"], d["cache_hits"], d["cache_misses"]) == ("partial", 2, 3)
