"""Copy the public-domain sample photos that scikit-image ships into assets/samples.

scikit-image is only needed to re-run this script (`pip install scikit-image`); the app never imports it.
Photos are saved as PNG, at most 512 px on the longer side.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

PHOTOS = {
    # file in skimage/data -> (saved name, licence note from scikit-image's documentation)
    "camera.png": ("camera.png", "CC0 by the photographer (Lav Varshney)"),
    "astronaut.png": ("astronaut.png", "NASA photograph of Eileen Collins, public domain"),
    "coffee.png": ("coffee.png", "CC0 by the photographer (Rachel Michetti)"),
    "chelsea.png": ("chelsea.png", "CC0 by the photographer (Stefan van der Walt)"),
}
OUT = Path(__file__).resolve().parents[1] / "assets" / "samples"


def main() -> None:
    import skimage

    source = Path(skimage.__file__).parent / "data"
    OUT.mkdir(parents=True, exist_ok=True)
    lines = ["# Sample images", "", "| file | source | licence |", "|---|---|---|"]
    for name, (saved, licence) in PHOTOS.items():
        image = Image.open(source / name)
        image.thumbnail((512, 512), Image.Resampling.LANCZOS)
        image.save(OUT / saved, optimize=True)
        lines.append(f"| {saved} | scikit-image sample data (`skimage/data/{name}`) | {licence} |")
    lines += ["", "The MNIST digit sample is read from `assets/mnist` (see its LICENSE.md, CC BY-SA 3.0).",
              "The checkerboard, shapes and gradient samples are drawn by `cnnviz/conv/samples.py` at run time.", ""]
    (OUT / "LICENSE.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
