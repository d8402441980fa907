"""Example request bodies copied from the seed documents (/work/shared/seeds), used as test
vectors: a correct client must produce these bodies, so the emulator must accept them."""

from __future__ import annotations

from typing import Any

# Seed 000 (Runware, recraft:v4-pro@0): colours under providerSettings.recraft.
RUNWARE_V4_PRO: dict[str, Any] = {
    "taskType": "imageInference",
    "taskUUID": "96801d3b-21cb-4a22-85cd-7b136d9d5365",
    "model": "recraft:v4-pro@0",
    "positivePrompt": (
        "A high-end luxury skincare campaign still life featuring a frosted glass serum bottle "
        "with a brushed gold dropper cap, placed on a sculptural cream stone pedestal with soft "
        "silk folds and subtle botanical accents. Editorial beauty photography, "
        "ultra-photorealistic materials, elegant soft shadows, luminous diffused studio lighting,"
        " precise reflections, premium minimalist composition, contemporary wellness branding "
        "aesthetic, clean negative space for ad layout, sophisticated macro detail, natural "
        "texture contrast, polished commercial art direction, aspirational and expensive mood."
    ),
    "width": 2560,
    "height": 1664,
    "providerSettings": {
        "recraft": {
            "colors": [
                {"rgb": [233, 223, 205]},
                {"rgb": [198, 170, 120]},
                {"rgb": [214, 228, 221]},
                {"rgb": [245, 242, 236]},
            ],
            "backgroundColor": {"rgb": [245, 242, 236]},
        }
    },
}

# Seed 001 (Runware, recraft:v4.1-pro@0): colours under settings.
RUNWARE_V41_PRO: dict[str, Any] = {
    "taskType": "imageInference",
    "taskUUID": "d33bf1d7-6885-4537-a7f2-ca43c5b008b2",
    "model": "recraft:v4.1-pro@0",
    "positivePrompt": (
        "A grand reading hall transformed into an aquatic-inspired luxury interior, towering "
        "walnut bookshelves, vaulted ceiling with ribbed glass panels, a suspended porcelain koi "
        "sculpture gliding through the center aisle, reflective black stone floor with subtle "
        "ripples, curved brass staircases, velvet reading chairs, scattered open books and "
        "ceramic vases, soft morning haze through high windows, ultra-detailed materials, "
        "tasteful surrealism, premium editorial interior photography, clean composition, smooth "
        "gradients, realistic reflections, crisp textures, sophisticated atmosphere, highly "
        "polished final image"
    ),
    "width": 2560,
    "height": 1664,
    "settings": {
        "backgroundColor": {"rgb": [242, 238, 230]},
        "colors": [
            {"rgb": [242, 238, 230]},
            {"rgb": [92, 64, 51]},
            {"rgb": [184, 138, 74]},
            {"rgb": [33, 41, 46]},
            {"rgb": [214, 220, 224]},
        ],
    },
}

# Seed 002 (Cloudflare, recraft/recraftv4-pro), "Brand Asset" example, in the REST envelope.
CLOUDFLARE_V4_PRO: dict[str, Any] = {
    "model": "recraft/recraftv4-pro",
    "input": {
        "prompt": (
            "A modern, clean illustration of a shield with a checkmark inside, representing "
            "security and trust"
        ),
        "size": "2048x2048",
        "controls": {
            "colors": [{"rgb": [46, 117, 182]}, {"rgb": [255, 255, 255]}],
            "background_color": {"rgb": [15, 23, 42]},
        },
    },
}

# Seed 004 (Cloudflare, recraft/recraftv4-1), "Background Color" example (cURL body).
CLOUDFLARE_V41: dict[str, Any] = {
    "model": "recraft/recraftv4-1",
    "input": {
        "prompt": "A clean icon of a lightning bolt",
        "controls": {"background_color": {"rgb": [245, 245, 245]}},
        "size": "1024x1024",
    },
}

# Seed 003 (PixelDojo, recraft-v4), cURL example body.
PIXELDOJO_V4: dict[str, Any] = {
    "prompt": "A beautiful mountain landscape at golden hour",
    "aspect_ratio": "1:1",
}

# providers.md §4.2 (Recraft official API), reconstructed example body.
RECRAFT_V4_PRO: dict[str, Any] = {
    "prompt": "two race cars on a track",
    "model": "recraftv4_pro",
    "size": "2560x1664",
    "n": 1,
    "response_format": "url",
    "controls": {
        "colors": [{"rgb": [255, 107, 53]}, {"rgb": [0, 43, 91]}],
        "background_color": {"rgb": [245, 245, 245]},
    },
}
