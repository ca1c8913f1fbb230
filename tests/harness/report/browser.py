"""Open a report in headless Chromium (Debian's chromium + chromium-driver) and inspect it.

Used by the report tests and to make the README screenshot (``docs/report.png``). Chromium
runs with a fresh profile and every background-networking feature off: the page must
render offline from the single HTML file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is missing."""
    browser = next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromium")
    driver = next((p for p in DRIVER_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@dataclass
class Rendered:
    console_errors: list[str]
    panels: dict[str, dict]  # data-panel -> {"plots": n, "plot_area": px^2 of the largest plot, "text": len}
    screenshot: bytes


def render(path: Path, *, width: int = 1280, timeout: float = 60.0) -> Rendered:
    """Load ``path`` (file://), wait for every plot, collect console errors, panels and a full-page PNG."""
    import base64

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    found = find_chromium()
    if found is None:
        raise RuntimeError("chromium and chromedriver are not installed")
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
                f"--window-size={width},900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        driver.set_page_load_timeout(timeout)
        driver.get(Path(path).resolve().as_uri())
        WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "Array.from(document.querySelectorAll('div.plot')).every("
            "  p => p.classList.contains('js-plotly-plot') && p.querySelector('.main-svg'))"))
        panels = driver.execute_script("""
            const out = [];
            for (const s of document.querySelectorAll('section.panel')) {
              let area = 0, plots = 0;
              for (const p of s.querySelectorAll('div.plot')) {
                plots += 1;
                const svg = p.querySelector('.main-svg');
                const layer = p.querySelector('.cartesianlayer .plot, .heatmaplayer, .barlayer, .scatterlayer');
                const r = (layer || svg).getBoundingClientRect();
                const marks = p.querySelectorAll('path.js-line, path.point, .hm image, .heatmaplayer image, '
                                                 + 'g.bars path, .scatterlayer path').length;
                if (marks > 0) area = Math.max(area, r.width * r.height);
              }
              out.push([s.dataset.panel, {plots: plots, plot_area: area, text: s.innerText.length}]);
            }
            return out;""")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        logs = driver.get_log("browser")
        errors = [e["message"] for e in logs if e.get("level") == "SEVERE"]
        return Rendered(console_errors=errors, panels={k: v for k, v in panels}, screenshot=base64.b64decode(shot["data"]))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pixel_std(png: bytes) -> float:
    """Standard deviation of the grey levels of a PNG (0 for a blank page)."""
    import io

    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    return float(np.asarray(img, dtype=np.float64).std())
