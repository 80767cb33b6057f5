"""The documentation stays true to the binary."""
import os
import subprocess

from conftest import BIN

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_configuration_doc_lists_the_settings_table():
    table = subprocess.run([BIN, "config", "--markdown"], capture_output=True,
                           text=True, timeout=10, check=True).stdout
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        doc = f.read()
    for line in table.splitlines():
        assert line in doc, f"docs/configuration.md is missing: {line}"
