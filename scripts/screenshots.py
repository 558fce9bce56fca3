"""Regenerate the docs' screenshots from the running app, so they never go stale.

The end-to-end tests drive the real app in headless Chromium and save what they see in tests/screenshots/; this
script runs them (`pytest -m e2e`, or only the files given) and copies each screenshot the docs show to its place
under docs/. A docs image that no test takes fails tests/project/test_layout.py.

    .venv/bin/python scripts/screenshots.py                 # every end-to-end test, then copy
    .venv/bin/python scripts/screenshots.py --copy-only     # copy what the last test run saved
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "screenshots"
DOCS = ROOT / "docs"
# a docs image -> the end-to-end screenshot it is (tests/screenshots/<name>.png)
FROM_TESTS = {
    "image_page.png": "image_results",
    "home_gallery.png": "home_gallery",
    "capture.png": "capture",
    "try_face.png": "try_face",
    "look_inside_image.png": "look_inside_image",
    "look_inside_speech.png": "look_inside_speech",
    "learn_backprop.png": "learn_backprop",
    "learn_optimizers.png": "learn_optimizers",
    "listen.png": "speech_listen",
    "calibrate.png": "speech_calibrate",
    "tune.png": "tune",
    "whatif.png": "whatif_results",
    "runs_compare.png": "runs_compare",
    "recsys.png": "recsys_results",
}


def copy_shots() -> list[str]:
    """Copy every screenshot the tests saved to its docs name; the names missing from tests/screenshots."""
    missing = []
    for doc, shot in FROM_TESTS.items():
        source = SHOTS / f"{shot}.png"
        if source.is_file():
            shutil.copyfile(source, DOCS / doc)
        else:
            missing.append(shot)
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", help="end-to-end test files (default: every test marked e2e)")
    parser.add_argument("--copy-only", action="store_true", help="do not run the tests; copy what they last saved")
    args = parser.parse_args()
    if not args.copy_only:
        cmd = [sys.executable, "-m", "pytest", "-q", *(args.tests or ["-m", "e2e"])]
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            print("some end-to-end tests failed: their screenshots may be missing or stale", file=sys.stderr)
    missing = copy_shots()
    print(
        f"copied {len(FROM_TESTS) - len(missing)} screenshots to docs/"
        + (f"; not taken: {', '.join(missing)}" if missing else "")
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
