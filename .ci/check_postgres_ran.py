"""Fail when no PostgreSQL test ran or any of them was skipped (junit XML from pytest)."""

import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()  # noqa: S314 (our own pytest report)
ran = skipped = 0
for case in root.iter("testcase"):
    if "[postgres" not in case.get("name", ""):
        continue
    if case.find("skipped") is not None:
        skipped += 1
    else:
        ran += 1
print(f"postgres tests: {ran} ran, {skipped} skipped")
if ran == 0 or skipped:
    sys.exit("PostgreSQL tests were skipped or absent: CI needs them to run")
