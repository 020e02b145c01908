"""The request bodies of the providers' own examples, shared by the tests."""

# Seed 001 (gpt_image_1) and seeds 000/002 (gpt_image_2_edit).
SEED_GPT_IMAGE_1 = {
    "prompt": "A clean product photo of a red apple on a white table, soft studio lighting.",
    "n": 1,
    "size": "1024x1024",
    "quality": "medium",
    "background": "auto",
    "output_format": "jpeg",
    "output_compression": 90,
    "moderation": "auto",
}
SEED_GPT_IMAGE_2_EDIT = {
    "prompt": (
        "Replace the background with a clean white studio setup while preserving the product "
        "details."
    ),
    "images": ["https://example.com/input.png"],
    "n": 1,
    "size": "1024x1024",
    "quality": "medium",
    "background": "auto",
    "output_format": "jpeg",
    "output_compression": 90,
    "moderation": "auto",
}
