"""A fresh user's path, end to end: their own CNN's state dict through the ``xaikit`` console
script, and the report opened in headless Chromium with its heatmap and colour bar.

Needs Debian's ``chromium`` package; skipped without it (the CLI part is covered in
``tests/cli`` then).
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from chromium_page import find_chromium, inspect_page
from PIL import Image

CHROMIUM = find_chromium()

USER_MODULE = textwrap.dedent('''
    import torch.nn.functional as F
    from torch import nn


    class SmallCNN(nn.Module):
        """What a user writes: functional ReLU, batch norm, a residual addition."""

        def __init__(self, classes=3):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.block = nn.Conv2d(8, 8, 3, padding=1)
            self.norm = nn.BatchNorm2d(8)
            self.head = nn.Linear(8 * 4 * 4, classes)

        def forward(self, x):
            h = F.relu(self.stem(x))
            h = F.relu(h + self.norm(self.block(h)))
            return self.head(F.max_pool2d(h, 4).flatten(1))
''')

#: The page's figures, as their data URIs, with their captions.
FIGURES = """Array.from(document.querySelectorAll("figure")).filter(f => f.querySelector("img")).map(f => ({
  src: f.querySelector("img").src,
  caption: (f.querySelector("figcaption") || {innerText: ""}).innerText
}))"""


def _colour_bar_columns(rgb: np.ndarray) -> np.ndarray:
    """Columns of the right quarter holding a vertical red (top) to blue (bottom) gradient."""
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    red = (r - b > 120) & (r - g > 120)
    blue = (b - r > 120) & (b - g > 120)
    columns = []
    for column in range(3 * rgb.shape[1] // 4, rgb.shape[1]):
        reds, blues = np.flatnonzero(red[:, column]), np.flatnonzero(blue[:, column])
        if len(reds) > 10 and len(blues) > 10 and reds.mean() < blues.mean():
            columns.append(column)
    return np.array(columns)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_own_cnn_state_dict_to_a_report_with_heatmap_and_colour_bar(tmp_path: Path) -> None:
    (tmp_path / "usernets.py").write_text(USER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import usernets  # type: ignore[import-not-found]

        torch.manual_seed(0)
        model = usernets.SmallCNN().eval()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("usernets", None)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    generator = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(generator.integers(0, 256, (16, 16), dtype=np.uint8)).save(pictures / f"p{k}.png")
    script = Path(sys.executable).with_name("xaikit")  # the console script a user runs
    done = subprocess.run(
        [str(script), "explain", "weights.pt", "pictures", "--model-class", "usernets:SmallCNN",
         "--channels", "1", "--method", "lrp", "--no-progress", "--out", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert CHROMIUM is not None
    page = inspect_page(tmp_path / "run" / "report.html", FIGURES, executable=CHROMIUM)
    assert page.errors == []
    figures = page.result
    heatmaps = [f for f in figures if "heatmap" in f["caption"].lower()]
    assert len(heatmaps) == 1, [f["caption"] for f in figures]
    data = base64.b64decode(heatmaps[0]["src"].split(",", 1)[1])
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    left = rgb[:, : 3 * rgb.shape[1] // 4]
    assert ((left[..., 0].astype(int) - left[..., 2] > 60).mean() > 0.01), "no red relevance in the heatmaps"
    assert len(_colour_bar_columns(rgb)) >= 5, "no red-to-blue colour bar on the right of the heatmaps"
