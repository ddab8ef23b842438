"""benchmarks/checkpoint_size.py: the smoke run measures both layouts of state.npz."""


def test_smoke_reports_a_smaller_state_file_after(load_benchmark, capsys):
    bench = load_benchmark("checkpoint_size")
    assert bench.main(["--units", "8", "--rounds", "1", "--saves", "1"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    before, after = (int(part.replace(",", "").rstrip(" B")) for part in cells[2].split(" → "))
    assert cells[0] == "8" and after < before
