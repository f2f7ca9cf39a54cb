"""Record validation: the one-pass check of each sample accepts exactly what the field-by-field
checks accept, with the same clean values; whatever it does not accept is refused by the general
checks with the item's index and field."""
import datetime as dt

import pytest

from apps.core.errors import InvalidInput
from apps.gpus import record as R

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc)
EARLIEST, LATEST = NOW - dt.timedelta(days=14), NOW + dt.timedelta(hours=1)
TS = "2026-11-30T07:59:55Z"
GPU = {"uuid": "GPU-1", "ts": TS, "utilization_pct": 97.0, "memory_used_mib": 40960, "temperature_c": 71.0,
       "power_w": 612.4, "sm_clock_mhz": 1980, "ecc_corrected": 0, "ecc_uncorrected": 0,
       "row_remap_failure": False, "throttle_reasons": ["sw_power_cap"]}
NODE = {"ts": TS, **{name: 1.0 for name in R.NODE_FLOATS}}
VALUES = [None, 0, 1, -1, 10**400, 0.0, 3.0, 2.5, 100, 101, -50, -51, 200, 1e15, 1e16, 2**62, 2**62 + 1, float("nan"),
          float("inf"), True, False, "1", "", " ", "GPU-2", "a\x00b", "x" * 201, [], {}, ["sw_power_cap"],
          ["too_hot"], [["gpu_idle"]], ["gpu_idle", "gpu_idle", "sw_power_cap"], TS, "2026-11-30T07:59:55+00:00",
          "2026-11-30T09:59:55+02:00", "2026-11-30T07:59:55", "2026-11-01T00:00:00Z", "2026-11-30T09:30:00Z",
          "yesterday", "__absent__"]


def variants(base):
    for key in [*base, "extra"]:
        for value in VALUES:
            item = dict(base)
            if value == "__absent__":
                item.pop(key, None)
            else:
                item[key] = value
            yield key, value, item


@pytest.mark.parametrize("base, fast, general", [(GPU, R._fast_gpu_sample, R._gpu_sample),
                                                  (NODE, R._fast_node_sample, R._node_sample)])
def test_the_fast_check_accepts_only_what_the_general_checks_accept(base, fast, general):
    times, accepted = R._Times(EARLIEST, LATEST), 0
    for key, value, item in variants(base):
        try:
            want, refused = general(item, "p", EARLIEST, LATEST), None
        except R._Refused as exc:
            want, refused = None, exc
        got = fast(item, times)
        if got is None:
            continue
        accepted += 1
        assert refused is None, (key, value, refused.message)
        assert got == want, (key, value)
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}, (key, value)
    assert accepted > len(base)  # the fast path did take the plain cases


@pytest.mark.parametrize("bad, path", [
    ({"temperature_c": float("nan")}, "gpu_samples[2].temperature_c"),
    ({"power_w": True}, "gpu_samples[2].power_w"),
    ({"memory_used_mib": 10**400}, "gpu_samples[2].memory_used_mib"),  # beyond any float: refused, not a 500
    ({"ecc_corrected": 2.5}, "gpu_samples[2].ecc_corrected"),
    ({"throttle_reasons": [["gpu_idle"]]}, "gpu_samples[2].throttle_reasons[0]"),
    ({"throttle_reasons": "gpu_idle"}, "gpu_samples[2].throttle_reasons"),
    ({"uuid": "  "}, "gpu_samples[2].uuid"),
    ({"ts": ["2026-11-30T07:59:55Z"]}, "gpu_samples[2].ts"),
    ({"ts": "2026-11-01T00:00:00Z"}, "gpu_samples[2].ts"),
])
def test_a_bad_sample_among_good_ones_is_named_by_index_and_field(bad, path):
    samples = [dict(GPU) for _ in range(5)]
    samples[2].update(bad)
    with pytest.raises(InvalidInput) as exc:
        R.validate({"gpu_samples": samples}, source="agent", retention_days=14, now=NOW)
    assert list(exc.value.errors) == [path]


def test_times_in_another_offset_and_integers_as_floats_still_pass_the_general_checks():
    sample = dict(GPU, ts="2026-11-30T09:59:55+02:00", ecc_corrected=3.0)
    clean = R.validate({"gpu_samples": [dict(GPU), sample]}, source="agent", retention_days=14, now=NOW)
    assert clean.gpu_samples[1]["ts"] == clean.gpu_samples[0]["ts"] == NOW - dt.timedelta(seconds=5)
    assert clean.gpu_samples[1]["ecc_corrected"] == 3 and type(clean.gpu_samples[1]["ecc_corrected"]) is int
