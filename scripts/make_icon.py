"""Draw the page icon (assets/icon.png): a small network on the theme's indigo, made here so nothing is fetched."""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE, SCALE = 64, 4  # drawn 4x larger, then shrunk: smooth edges without a font or an SVG renderer
INDIGO, WHITE = (79, 70, 229, 255), (255, 255, 255, 255)
LAYERS = [(0.22, (0.3, 0.7)), (0.5, (0.2, 0.5, 0.8)), (0.78, (0.5,))]  # (x, unit heights) as fractions


def draw() -> Image.Image:
    side = SIZE * SCALE
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    pen = ImageDraw.Draw(img)
    pen.rounded_rectangle((0, 0, side - 1, side - 1), radius=side // 5, fill=INDIGO)
    units = [[(x * side, y * side) for y in ys] for x, ys in LAYERS]
    for left, right in zip(units, units[1:]):
        for a in left:
            for b in right:
                pen.line((a, b), fill=(199, 210, 254, 255), width=side // 36)
    r = side // 14
    for layer in units:
        for x, y in layer:
            pen.ellipse((x - r, y - r, x + r, y + r), fill=WHITE)
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "assets" / "icon.png"
    draw().save(out)
    print(out, out.stat().st_size, "bytes")
