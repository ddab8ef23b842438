"""The throughput benchmark's path: every variant builds, trains and reports, on a tiny model.

Timings are printed, never checked (the guide: performance targets live in benchmarks); what is
checked is that each variant runs and that the report has a row with a ratio for it.
"""

import pathlib
import re

import pytest

TINY = ["--units", "8", "--num-layers", "1", "--embedding-dim", "4", "--vocab-size", "7",
        "--seq-len", "5", "--rounds", "1", "--steps", "1", "--no-torch"]


@pytest.fixture(scope="module")
def throughput(load_benchmark):
    return load_benchmark("throughput")


def test_every_variant_trains_and_gets_a_row(throughput, capsys):
    names = list(throughput.VARIANTS)
    throughput.main(TINY + ["--variants", ",".join(names), "--batch-sizes", "3"])
    out = capsys.readouterr().out
    table = out.split("Batch 3 x 5 tokens", 1)[1]
    for name in names:
        assert re.search(rf"built {name}\s+batch 3 ", out), name
        # train and infer: tokens/s, (min-max), the ratio to keras.layers.LSTM, the cost.
        row = re.search(rf"^{name}\s+(\d+)\s+\(\d+-\d+\)\s+(\d+\.\d\d)\s+(\S+)"
                        rf"\s+(\d+)\s+\(\d+-\d+\)\s+(\d+\.\d\d)", table, re.M)
        assert row is not None, f"no report row for {name}:\n{table}"
        assert int(row[1]) > 0 and float(row[2]) > 0
        has_baseline = throughput.VARIANTS[name][3] is not None
        assert (row[3] != "-") == has_baseline, row[0]
    assert re.search(r"^keras\s+\d+\s+\(\d+-\d+\)\s+1\.00\s", table, re.M)
    assert "Machine: " in out and "logical cores" in out


def test_unknown_variant_and_bad_numbers_are_refused(throughput):
    with pytest.raises(SystemExit):
        throughput.main(TINY + ["--variants", "keras,no_such_layer"])
    with pytest.raises(SystemExit):
        throughput.main(TINY + ["--variants", "keras", "--batch-sizes", "0"])


def test_cpu_model_names_the_family_where_linux_tells_it(throughput):
    name = throughput.cpu_model()
    assert isinstance(name, str) and name
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists() and "cpu family" in cpuinfo.read_text():
        assert re.search(r"\(family \d+, model \d+\)$", name), name
