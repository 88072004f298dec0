"""Review texts whose tone follows the customer's latent satisfaction.

Short template sentences: enough for a sentence encoder to pick up sentiment, which predicts
dropout in the synthetic market (satisfied customers stay longer).
"""

from __future__ import annotations

import numpy as np

OPENINGS = {
    1: [
        "Very disappointed with this {c} order.",
        "Terrible experience buying {c} here.",
        "The {c} I got was not what was promised.",
        "Would not order {c} from this shop again.",
    ],
    2: [
        "The {c} was below my expectations.",
        "Not great, the {c} arrived late.",
        "Mediocre {c}, and customer service was slow.",
        "I expected more from this {c}.",
    ],
    3: [
        "The {c} is okay, nothing special.",
        "Average {c}, does the job.",
        "Decent {c} for the price.",
        "The {c} arrived on time, it is fine.",
    ],
    4: [
        "Good {c}, I am happy with it.",
        "Nice {c} and quick delivery.",
        "The {c} works well, would buy again.",
        "Solid {c}, good value.",
    ],
    5: [
        "Excellent {c}, absolutely love it!",
        "Best {c} shop I know, fantastic service.",
        "Outstanding {c}, I will definitely be back.",
        "Perfect {c}, exceeded my expectations.",
    ],
}
CLOSINGS = {
    1: ["Returning it.", "Never again.", "Refund please."],
    2: ["Maybe I will try elsewhere next time.", "Packaging was damaged.", ""],
    3: ["", "Shipping was standard.", "Nothing more to say."],
    4: ["Thanks!", "Recommended.", ""],
    5: ["Highly recommended!", "Five stars!", "Thank you so much!"],
}


def draw_reviews(
    satisfaction: np.ndarray,
    categories: np.ndarray,
    category_names: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Ratings (1-5) and texts for reviews written by customers of the given satisfaction."""
    z = (satisfaction - satisfaction.mean()) / max(float(satisfaction.std()), 1e-9)
    ratings = np.clip(np.rint(3.4 + 1.1 * z + rng.normal(0.0, 0.7, len(z))), 1, 5).astype(int)
    opening_pick = rng.integers(0, 4, len(z))
    closing_pick = rng.integers(0, 3, len(z))
    texts = np.array(
        [
            (OPENINGS[r][o].format(c=category_names[c]) + " " + CLOSINGS[r][k]).strip()
            for r, o, k, c in zip(ratings, opening_pick, closing_pick, categories, strict=True)
        ],
        dtype=object,
    )
    return ratings, texts
