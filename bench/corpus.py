"""Word lists and synthetic trend topics that make benchmark text look like the product's real content."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from viral.vocabulary import CATEGORY_VALUES

CATEGORIES: tuple[str, ...] = CATEGORY_VALUES
NOUNS_PER_CATEGORY = 8
TAGS_PER_CATEGORY = 6

# Exactly NOUNS_PER_CATEGORY nouns and TAGS_PER_CATEGORY hashtags per category, in CATEGORIES order, so the
# seeding SQL can index flat arrays by category * stride.
NOUNS: dict[str, tuple[str, ...]] = {
    "news": ("headline", "reporter", "election", "summit", "protest", "breaking story", "press room", "anchor"),
    "absurd": ("goose", "toaster", "raccoon", "traffic cone", "rubber duck", "haunted chair", "pigeon", "potato"),
    "luxury": ("yacht", "penthouse", "watch", "supercar", "private jet", "caviar", "villa", "diamond"),
    "emotional": ("grandma", "reunion", "letter", "puppy", "first home", "wedding", "graduation", "stranger"),
    "tech": ("robot", "laptop", "smartphone", "chatbot", "gadget", "drone", "keyboard", "smart glasses"),
    "cartoon": ("sidekick", "villain", "talking cat", "superhero", "wizard", "dragon", "anime hero", "mascot"),
    "gaming": ("speedrun", "boss fight", "controller", "loot box", "noob", "respawn", "esports team", "pixel"),
    "fitness": ("deadlift", "gym bro", "protein shake", "treadmill", "yoga mat", "marathon", "squat", "kettlebell"),
    "food": ("sourdough", "ramen", "taco", "pizza", "smoothie", "air fryer", "street food", "croissant"),
    "finance": ("budget", "stock", "crypto wallet", "side hustle", "paycheck", "landlord", "index fund", "tax refund"),
    "music": ("playlist", "drummer", "vinyl", "concert", "choir", "remix", "guitar solo", "karaoke"),
    "relationships": ("first date", "ex", "roommate", "best friend", "in-laws", "crush", "situationship", "group chat"),
}
TAGS: dict[str, tuple[str, ...]] = {
    "news": ("news", "breakingnews", "worldnews", "politics", "headlines", "currentevents"),
    "absurd": ("absurd", "weird", "unhinged", "chaos", "funny", "wtf"),
    "luxury": ("luxury", "rich", "billionaire", "lifestyle", "luxurylife", "wealth"),
    "emotional": ("emotional", "wholesome", "heartwarming", "tearjerker", "feelgood", "love"),
    "tech": ("tech", "gadgets", "ai", "techtok", "innovation", "future"),
    "cartoon": ("cartoon", "animation", "anime", "toon", "animated", "drawing"),
    "gaming": ("gaming", "gamer", "gamingclips", "twitch", "esports", "retrogaming"),
    "fitness": ("fitness", "gymtok", "workout", "gains", "fitcheck", "cardio"),
    "food": ("food", "foodtok", "recipe", "cooking", "foodie", "easyrecipe"),
    "finance": ("finance", "moneytok", "investing", "budgeting", "personalfinance", "stocks"),
    "music": ("music", "newmusic", "musician", "cover", "songwriter", "beats"),
    "relationships": ("relationships", "dating", "couples", "datingadvice", "situationship", "redflags"),
}
GENERIC_TAGS = ("fyp", "viral", "foryou", "trending", "explore", "reels", "shorts", "foryoupage")
ADJECTIVES = (
    "unhinged",
    "wholesome",
    "secret",
    "chaotic",
    "tiny",
    "giant",
    "forbidden",
    "budget",
    "luxury",
    "haunted",
    "sleepy",
    "overconfident",
    "legendary",
    "suspicious",
    "dramatic",
    "minimalist",
    "vintage",
    "brutally honest",
    "underrated",
    "viral",
)
VERBS = ("tries", "reviews", "ranks", "survives", "explains", "reacts to", "recreates", "rates", "predicts", "roasts")
TITLE_TEMPLATES = (
    "{A} {n} {v} {t}",
    "POV: your {n} {v} {t}",
    "Why {t} is the new {n}",
    "I let a {a} {n} plan my day: {t} edition",
    "The {a} truth about {t}",
    "{t}, but every {n} is {a}",
    "Rating {t} as a {a} {n}",
    "What happens when a {n} {v} {t}",
)
CAPTION_TEMPLATES = (
    "Nobody expected the {n} to handle {t} like this. Part {k}.",
    "Tag someone whose {n} needs to see {t} right now.",
    "{t} hit different when the {n} is {a}. Day {k} of the series.",
    "We gave a {a} {n} one job during {t}. Watch till the end.",
    "Replying to the comments about {t}: yes, the {n} is real. Round {k}.",
    "Save this for when your {n} asks about {t}.",
)
CAMERAS = ("close-up", "handheld", "wide shot", "slow push-in", "overhead", "POV", "whip pan", "tracking shot")
HOOKS = (
    "Opens on a pattern interrupt in the first second",
    "Relatable pain with an absurd twist",
    "Curiosity gap resolved in the final beat",
    "Strong emotional payoff that invites shares",
    "Rides a rising search trend while it is fresh",
    "Ends on a loop that boosts rewatches",
)
TOPIC_NOUNS = (
    "festival",
    "launch",
    "challenge",
    "scandal",
    "update",
    "trailer",
    "recipe",
    "dance",
    "meme",
    "lawsuit",
    "tour",
    "finale",
    "strike",
    "heatwave",
    "outage",
    "drop",
    "reboot",
    "merger",
    "comeback",
    "recall",
    "protest",
    "premiere",
    "auction",
    "sale",
    "leak",
    "award",
    "rally",
    "trend",
    "filter",
    "sound",
)
SOURCES = ("Google Trends", "Reddit", "YouTube", "GNews", "TikTok Creative Center")
SOURCE_APIS = ("google-trends", "reddit", "youtube", "gnews", "tiktok-creative")
RECENCIES = ("today", "yesterday", "older")
_SYLLABLES = (
    "ka",
    "lo",
    "vi",
    "zen",
    "dra",
    "mor",
    "tex",
    "qui",
    "bal",
    "rin",
    "sol",
    "tu",
    "nex",
    "pa",
    "gor",
    "lu",
    "mi",
    "vak",
    "dor",
    "fel",
    "shi",
    "ro",
    "bex",
    "yu",
    "an",
    "pli",
    "ster",
    "vo",
    "cri",
    "mun",
)


@dataclass(frozen=True)
class Topic:
    """A synthetic trend topic: a made-up name (its search word) and a common noun."""

    index: int
    name: str
    noun: str
    category: str

    @property
    def text(self) -> str:
        return f"{self.name.capitalize()} {self.noun}"


def make_topics(count: int, *, seed: int = 7) -> list[Topic]:
    """`count` distinct topics; made-up names keep a rare topic's word rare in every text column."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    for _ in range(count * 50):
        if len(names) == count:
            break
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((3, 3, 4))))
        if len(name) >= 6:
            names.setdefault(name)
    if len(names) < count:
        raise ValueError(f"could not make {count} distinct topic names")
    return [
        Topic(index=i, name=name, noun=TOPIC_NOUNS[i % len(TOPIC_NOUNS)], category=CATEGORIES[i % len(CATEGORIES)])
        for i, name in enumerate(names)
    ]


def _fill(template: str, *, a: str, n: str, v: str, t: str, k: int) -> str:
    filled = template.replace("{a}", a).replace("{n}", n).replace("{v}", v).replace("{t}", t)
    return filled.replace("{A}", a.capitalize()).replace("{k}", str(k))


def concept_payload(rng: random.Random, concept_id: str, topic: Topic) -> dict[str, Any]:
    """One concept as the dashboard sends it (camelCase), from the same vocabulary the seed uses."""
    category = rng.choice(CATEGORIES)
    noun, adjective, verb = rng.choice(NOUNS[category]), rng.choice(ADJECTIVES), rng.choice(VERBS)
    part = rng.randint(1, 40)
    title = _fill(rng.choice(TITLE_TEMPLATES), a=adjective, n=noun, v=verb, t=topic.text, k=part)
    caption = _fill(rng.choice(CAPTION_TEMPLATES), a=adjective, n=noun, v=verb, t=topic.text, k=part)
    tags = rng.sample(TAGS[category], 2)
    return {
        "id": concept_id,
        "title": title,
        "script": [
            {
                "timeRange": "0-3s",
                "visual": f"A {adjective} {noun} close to camera",
                "onScreenText": title,
                "camera": rng.choice(CAMERAS),
            },
            {
                "timeRange": "3-10s",
                "visual": f"The {noun} reacts to {topic.text}",
                "onScreenText": None,
                "camera": rng.choice(CAMERAS),
            },
            {
                "timeRange": "10-15s",
                "visual": f"Reveal: {caption}",
                "onScreenText": "Follow for part 2",
                "camera": rng.choice(CAMERAS),
            },
        ],
        "soraPrompt": f"vertical video (9:16) of a {adjective} {noun}, {topic.text}, cinematic lighting",
        "veoPrompt": f"vertical 9:16 clip, a {noun} and {topic.text}, natural light, shallow depth of field",
        "caption": caption,
        "hashtags": [f"#{tags[0]}", f"#{tags[1]}", f"#{rng.choice(GENERIC_TAGS)}", f"#{topic.name}"],
        "postTime": {"utc": "2026-11-24T17:00:00Z", "est": "12:00 PM EST", "reason": "lunch scroll peak"},
        "whyItWorks": rng.choice(HOOKS),
        "trendSource": topic.text,
        "category": category,
        "platformVirality": {
            "tiktok": {"score": rng.randint(40, 95), "label": "HIGH REACH", "factors": ["hook", "trend"]},
            "youtubeShorts": {"score": rng.randint(30, 90), "label": "MEDIUM REACH", "factors": ["loop"]},
        },
    }


def trend_payload(rng: random.Random, trend_id: str, topic: Topic) -> dict[str, Any]:
    """One trend of a generation, as the dashboard sends it."""
    source = rng.randrange(len(SOURCES))
    return {
        "id": trend_id,
        "topic": topic.text,
        "source": SOURCES[source],
        "score": round(rng.uniform(10, 900), 1),
        "recency": rng.choice(RECENCIES),
        "visualPotential": rng.randint(20, 100),
        "emotionalImpact": rng.randint(20, 100),
        "shareability": rng.randint(20, 100),
        "category": topic.category,
        "sourceApi": SOURCE_APIS[source],
    }


def generation_payload(
    rng: random.Random, generation_id: str, topics: list[Topic], *, date: str, concepts: int = 10
) -> dict[str, Any]:
    """A generation with `concepts` concepts and five trends, as the dashboard saves it."""
    chosen = rng.sample(topics, 5)
    return {
        "id": generation_id,
        "date": date,
        "concepts": [concept_payload(rng, f"{generation_id}-c{i}", chosen[i % len(chosen)]) for i in range(concepts)],
        "trends": [trend_payload(rng, f"{generation_id}-t{i}", topic) for i, topic in enumerate(chosen)],
        "isFavorite": False,
    }
