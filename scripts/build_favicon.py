"""Draw assets/favicon.png: a 3x3 kernel grid in the app's orange. The app serves it itself, so a browser tab's
icon needs no font CDN (a ":material/...:" page icon is fetched from fonts.gstatic.com).

    python scripts/build_favicon.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "assets" / "favicon.png"
ORANGE, DARK = (217, 72, 15), (31, 41, 55)


def main() -> None:
    side, cells, gap = 64, 3, 4
    cell = (side - gap * (cells + 1)) // cells
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for r in range(cells):
        for c in range(cells):
            left, top = gap + c * (cell + gap), gap + r * (cell + gap)
            colour = DARK if (r, c) == (1, 1) else ORANGE
            draw.rounded_rectangle((left, top, left + cell, top + cell), radius=3, fill=colour)
    image.save(OUT, optimize=True)
    print(OUT)


if __name__ == "__main__":
    main()
