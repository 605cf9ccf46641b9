"""GitHub-like Open Graph cards (N9): a 1200x630 PNG per repository, drawn with Pillow.

The card shows the repository's owner/name, description, stars, its language
with GitHub's colour as a bar along the bottom, and an identicon avatar (a 5x5
mirrored grid, as GitHub draws default avatars). Repository facts come from
``repo_info``: a deterministic stand-in for a database row, so any owner/repo
has a card and the benchmark can ask for thousands of them.

The ETag is a hash of the card's *inputs* (the facts plus ``RENDER_VERSION``),
so the origin answers a revalidation with 304 without drawing anything, and
a new renderer invalidates every card by bumping one number.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

RENDER_VERSION = 1
WIDTH, HEIGHT = 1200, 630  # the size Facebook, LinkedIn and GitHub use for og:image
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # fonts-dejavu-core
LANGUAGES = {  # GitHub linguist colours
    "Python": "#3572A5", "Go": "#00ADD8", "Rust": "#dea584", "TypeScript": "#3178c6",
    "JavaScript": "#f1e05a", "C": "#555555", "C++": "#f34b7d", "Java": "#b07219",
    "Ruby": "#701516", "Zig": "#ec915c",
}  # fmt: skip
_WORDS = ("fast", "tiny", "distributed", "cache", "log", "store", "server", "toolkit", "queue",
          "index", "parser", "engine", "for", "the", "web", "teaching", "lab", "with", "tests")  # fmt: skip


@dataclass(frozen=True)
class RepoInfo:
    owner: str
    name: str
    description: str
    stars: int
    language: str

    def etag(self) -> str:
        facts = f"{RENDER_VERSION}|{self.owner}|{self.name}|{self.description}|{self.stars}|{self.language}"
        return '"og-' + hashlib.sha256(facts.encode()).hexdigest()[:20] + '"'


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def repo_info(owner: str, name: str) -> RepoInfo:
    d = _digest(f"{owner}/{name}")
    words = " ".join(_WORDS[b % len(_WORDS)] for b in d[4:12])
    langs = list(LANGUAGES)
    stars = int.from_bytes(d[:3], "big") % 100_000 // (1 + d[3] % 50)
    return RepoInfo(owner, name, f"A {words}.", stars, langs[d[12] % len(langs)])


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:  # no DejaVu installed: Pillow's own font still draws text
        return ImageFont.load_default(size)


def _avatar(seed: str, size: int) -> Image.Image:
    """GitHub's identicon idea: 5x5 cells, left half mirrored, one colour from the hash."""
    d = _digest("avatar:" + seed)
    colour = (d[0] // 2 + 64, d[1] // 2 + 64, d[2] // 2 + 64)
    img = Image.new("RGB", (5, 5), (240, 240, 240))
    for y in range(5):
        for x in range(3):
            if d[3 + y * 3 + x] % 2:
                img.putpixel((x, y), colour)
                img.putpixel((4 - x, y), colour)
    return img.resize((size, size), Image.Resampling.NEAREST)


def _stars(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def render(info: RepoInfo) -> bytes:
    """The card as PNG bytes (about 20-40 ms: the reason it is cached at the edge)."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    draw.text((80, 90), f"{info.owner}/", font=_font(48), fill="#57606a")
    draw.text((80, 150), info.name[:40], font=_font(72, bold=True), fill="#1f2328")
    draw.multiline_text((80, 270), _wrap(info.description, 48), font=_font(34), fill="#57606a", spacing=10)
    img.paste(_avatar(info.owner, 200), (WIDTH - 280, 90))
    colour = LANGUAGES[info.language]
    draw.ellipse((80, 480, 108, 508), fill=colour)
    draw.text((124, 476), info.language, font=_font(32), fill="#1f2328")
    draw.text((420, 476), f"\u2605 {_stars(info.stars)} stars", font=_font(32), fill="#1f2328")
    draw.rectangle((0, HEIGHT - 24, WIDTH, HEIGHT), fill=colour)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _wrap(text: str, width: int) -> str:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    lines.append(cur)
    return "\n".join(lines[:3])


def gallery_image(n: int, width: int = 320, height: int = 200) -> bytes:
    """A small numbered PNG for the lazy-loading gallery (N12)."""
    d = _digest(f"img:{n}")
    img = Image.new("RGB", (width, height), (d[0], d[1], d[2]))
    draw = ImageDraw.Draw(img)
    draw.text((16, 12), f"#{n}", font=_font(48, bold=True), fill="white")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()
