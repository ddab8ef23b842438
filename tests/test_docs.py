"""The code in the docs runs as written."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_architecture_example_adds_a_regularizer_that_keeps_the_fused_path():
    text = (ROOT / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/architecture.md has one example"
    exec(compile(blocks[0], "docs/architecture.md", "exec"), {})  # its asserts are the test


def test_architecture_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    modules = {p.stem for p in (ROOT / "regkeras").glob("*.py")} - {"__init__", "__main__"}
    missing = sorted(m for m in modules if f"`{m}`" not in text)
    assert not missing, f"docs/architecture.md does not place {missing}"
