"""Words the procedural engine understands: object classes, colors, numbers, settings, styles.

The object list is the 80 COCO classes GenEval uses plus simple shapes and a few common extras;
each class lists its synonyms (plurals are derived) and the emoji code points used for its glyph.
"""
from __future__ import annotations

#: COCO class -> (synonyms, emoji sequence or None when the class is drawn as a vector icon)
COCO_CLASSES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "person": (("man", "woman", "people", "boy", "girl", "child", "kid", "human", "guy", "lady", "astronaut",
                "player", "chef", "doctor", "student", "farmer", "dancer"), "\U0001F9CD"),
    "bicycle": (("bike", "cycle"), "\U0001F6B2"),
    "car": (("automobile", "sedan", "taxi"), "\U0001F697"),
    "motorcycle": (("motorbike", "scooter"), "\U0001F3CD"),
    "airplane": (("plane", "aeroplane", "jet", "aircraft"), "\u2708"),
    "bus": (("coach",), "\U0001F68C"),
    "train": (("locomotive", "tram"), "\U0001F686"),
    "truck": (("lorry", "pickup truck"), "\U0001F69A"),
    "boat": (("ship", "sailboat", "yacht"), "\u26F5"),
    "traffic light": (("stoplight", "traffic signal"), "\U0001F6A6"),
    "fire hydrant": (("hydrant",), None),
    "stop sign": ((), "\U0001F6D1"),
    "parking meter": ((), None),
    "bench": (("park bench",), None),
    "bird": (("sparrow", "pigeon", "parrot"), "\U0001F426"),
    "cat": (("kitten", "kitty"), "\U0001F408"),
    "dog": (("puppy", "doggy", "hound"), "\U0001F415"),
    "horse": (("pony", "stallion"), "\U0001F40E"),
    "sheep": (("lamb",), "\U0001F411"),
    "cow": (("cattle", "ox", "calf"), "\U0001F404"),
    "elephant": ((), "\U0001F418"),
    "bear": (("grizzly",), "\U0001F43B"),
    "zebra": ((), "\U0001F993"),
    "giraffe": ((), "\U0001F992"),
    "backpack": (("rucksack", "knapsack"), "\U0001F392"),
    "umbrella": (("parasol",), "\u2602"),
    "handbag": (("purse", "bag"), "\U0001F45C"),
    "tie": (("necktie",), "\U0001F454"),
    "suitcase": (("luggage",), "\U0001F9F3"),
    "frisbee": (("flying disc",), "\U0001F94F"),
    "skis": (("ski",), "\U0001F3BF"),
    "snowboard": ((), "\U0001F3C2"),
    "sports ball": (("ball", "football", "soccer ball", "basketball"), "\u26BD"),
    "kite": ((), "\U0001FA81"),
    "baseball bat": (("bat",), "\U0001F3CF"),
    "baseball glove": (("glove", "mitt"), "\U0001F9E4"),
    "skateboard": ((), "\U0001F6F9"),
    "surfboard": ((), "\U0001F3C4"),
    "tennis racket": (("racket", "racquet"), "\U0001F3F8"),
    "bottle": ((), "\U0001F37E"),
    "wine glass": (("wineglass", "glass"), "\U0001F377"),
    "cup": (("mug", "coffee cup", "teacup"), "\u2615"),
    "fork": ((), "\U0001F374"),
    "knife": ((), "\U0001F52A"),
    "spoon": ((), "\U0001F944"),
    "bowl": ((), "\U0001F963"),
    "banana": ((), "\U0001F34C"),
    "apple": ((), "\U0001F34E"),
    "sandwich": (("sub",), "\U0001F96A"),
    "orange": (("tangerine",), "\U0001F34A"),
    "broccoli": ((), "\U0001F966"),
    "carrot": ((), "\U0001F955"),
    "hot dog": (("hotdog",), "\U0001F32D"),
    "pizza": ((), "\U0001F355"),
    "donut": (("doughnut",), "\U0001F369"),
    "cake": (("cupcake",), "\U0001F370"),
    "chair": (("stool",), "\U0001FA91"),
    "couch": (("sofa",), "\U0001F6CB"),
    "potted plant": (("plant", "houseplant", "pot plant"), "\U0001FAB4"),
    "bed": ((), "\U0001F6CF"),
    "dining table": (("table", "desk"), None),
    "toilet": ((), "\U0001F6BD"),
    "tv": (("television", "tv monitor", "monitor", "screen"), "\U0001F4FA"),
    "laptop": (("notebook computer", "computer"), "\U0001F4BB"),
    "mouse": (("computer mouse",), "\U0001F5B1"),
    "remote": (("remote control", "tv remote", "controller"), None),
    "keyboard": (("computer keyboard",), "\u2328"),
    "cell phone": (("phone", "cellphone", "smartphone", "mobile phone"), "\U0001F4F1"),
    "microwave": (("microwave oven",), None),
    "oven": (("stove",), None),
    "toaster": ((), None),
    "sink": (("basin",), None),
    "refrigerator": (("fridge",), None),
    "book": (("novel",), "\U0001F4D5"),
    "clock": (("alarm clock", "watch"), "\u23F0"),
    "vase": (("urn", "jar"), "\U0001F3FA"),
    "scissors": ((), "\u2702"),
    "teddy bear": (("teddy", "stuffed bear"), "\U0001F9F8"),
    "hair drier": (("hair dryer", "hairdryer", "blow dryer"), None),
    "toothbrush": ((), "\U0001FAA5"),
}

#: simple geometric shapes, drawn as vectors
SHAPES: dict[str, tuple[str, ...]] = {
    "circle": ("disc", "dot"),
    "square": ("box", "block"),
    "rectangle": ("rect", "bar"),
    "triangle": (),
    "star": ("pentagram",),
    "heart": (),
    "hexagon": (),
    "diamond": ("rhombus",),
    "ellipse": ("oval", "egg"),
    "cross": ("plus sign",),
}

#: common non-COCO objects worth drawing (glyph-backed)
EXTRA_CLASSES: dict[str, tuple[tuple[str, ...], str]] = {
    "tree": (("pine", "oak"), "\U0001F333"),
    "flower": (("rose", "tulip", "blossom"), "\U0001F337"),
    "house": (("home", "cottage", "building"), "\U0001F3E0"),
    "fish": (("goldfish",), "\U0001F41F"),
    "rabbit": (("bunny", "hare"), "\U0001F407"),
    "duck": ((), "\U0001F986"),
    "rocket": (("spaceship",), "\U0001F680"),
    "robot": (("android",), "\U0001F916"),
    "hat": (("cap",), "\U0001F3A9"),
    "balloon": ((), "\U0001F388"),
    "sign": (("signboard", "board", "poster", "banner", "billboard", "placard"), None),
    "strawberry": ((), "\U0001F353"),
    "lamp": (("light bulb", "bulb"), "\U0001F4A1"),
}

#: glyphs used by the background painter (not objects a prompt places)
SCENERY_GLYPHS: dict[str, str] = {
    "sun": "\u2600",
    "moon": "\U0001F319",
    "cloud": "\u2601",
    "pine": "\U0001F332",
    "palm": "\U0001F334",
    "building": "\U0001F3E2",
    "office": "\U0001F3EC",
    "planet": "\U0001FA90",
    "snowflake": "\u2744",
    "mountain": "\u26F0",
    "window": "\U0001FA9F",
    "wave": "\U0001F30A",
    "cactus": "\U0001F335",
    "shell": "\U0001F41A",
    "grass": "\U0001F33F",
}

#: classes that carry quoted text on their face when the prompt names them
TEXT_CARRIERS = frozenset({"sign", "book", "tv", "laptop", "cell phone", "stop sign", "cake", "suitcase"})

#: named colors (GenEval's ten first) -> RGB
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "orange": (245, 135, 20),
    "yellow": (250, 215, 30),
    "green": (40, 165, 60),
    "blue": (35, 90, 220),
    "purple": (130, 50, 180),
    "pink": (245, 120, 185),
    "brown": (125, 75, 35),
    "black": (25, 25, 25),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "cyan": (30, 200, 220),
    "gold": (212, 175, 55),
    "silver": (190, 190, 200),
    "beige": (225, 205, 165),
    "navy": (20, 35, 110),
    "teal": (20, 140, 140),
    "magenta": (215, 35, 160),
    "maroon": (120, 20, 35),
    "turquoise": (60, 210, 195),
}
COLOR_SYNONYMS: dict[str, str] = {
    "grey": "gray", "violet": "purple", "lilac": "purple", "crimson": "red", "scarlet": "red",
    "aqua": "cyan", "golden": "gold", "tan": "beige", "lime": "green", "indigo": "navy",
}

NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "pair": 2, "couple": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "several": 3, "some": 2,
    "many": 6, "few": 3, "dozen": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100,
}
MAX_PER_GROUP = 10
MAX_OBJECTS = 40

SIZE_WORDS: dict[str, float] = {
    "tiny": 0.45, "small": 0.65, "little": 0.65, "mini": 0.55, "big": 1.35, "large": 1.35,
    "huge": 1.6, "giant": 1.7, "enormous": 1.7, "medium": 1.0,
}

#: relation phrases (longest first when matching) -> canonical relation
RELATIONS: dict[str, str] = {
    "to the left of": "left of", "on the left of": "left of", "left of": "left of",
    "to the right of": "right of", "on the right of": "right of", "right of": "right of",
    "above": "above", "over": "above", "higher than": "above",
    "below": "below", "under": "below", "beneath": "below", "underneath": "below", "lower than": "below",
    "next to": "next to", "beside": "next to", "besides": "next to", "alongside": "next to",
    "near": "next to", "by": "next to",
    "on top of": "on top of", "on": "on top of", "atop": "on top of", "sitting on": "on top of",
    "inside": "inside", "in": "inside", "within": "inside", "inside of": "inside",
    "bigger than": "bigger than", "larger than": "bigger than", "taller than": "bigger than",
    "smaller than": "smaller than", "tinier than": "smaller than", "shorter than": "smaller than",
    "in front of": "in front of", "behind": "behind",
    "wearing": "wearing", "riding": "on top of", "riding on": "on top of", "holding": "next to",
    "carrying": "next to",
}
#: relations whose inverse is stored instead, so the layout only knows a few
INVERSE: dict[str, str] = {
    "right of": "left of", "below": "above", "smaller than": "bigger than", "behind": "in front of",
    "wearing": "on top of",
}

ARRANGEMENTS: dict[str, str] = {
    "symmetric": "symmetric", "symmetrical": "symmetric", "symmetrically": "symmetric",
    "mirrored": "symmetric", "in a row": "row", "in a line": "row", "lined up": "row",
    "in a circle": "circle", "in a ring": "circle", "around": "circle", "in a grid": "grid",
    "in a column": "column", "stacked": "column",
}

SETTINGS: dict[str, str] = {
    "sky": "sky", "clouds": "sky", "beach": "beach", "seaside": "beach", "shore": "beach",
    "forest": "forest", "woods": "forest", "jungle": "forest", "city": "city", "street": "city",
    "town": "city", "downtown": "city", "room": "room", "living room": "room", "bedroom": "room",
    "kitchen": "room", "indoors": "room", "office": "room", "space": "space", "outer space": "space",
    "galaxy": "space", "snow": "snow", "snowy": "snow", "winter": "snow", "desert": "desert",
    "ocean": "ocean", "sea": "ocean", "underwater": "underwater", "park": "park", "field": "park",
    "meadow": "park", "grass": "park", "garden": "park", "mountains": "mountains", "mountain": "mountains",
    "hills": "mountains",
}
TIMES: dict[str, str] = {
    "night": "night", "nighttime": "night", "midnight": "night", "at night": "night",
    "sunset": "sunset", "dusk": "sunset", "evening": "sunset", "golden hour": "sunset",
    "sunrise": "sunrise", "dawn": "sunrise", "morning": "sunrise", "day": "day", "daytime": "day",
    "noon": "day", "sunny": "day", "foggy": "fog", "fog": "fog", "misty": "fog", "dark": "night",
}
STYLES: dict[str, str] = {
    "pixel art": "pixel-art", "pixelated": "pixel-art", "8-bit": "pixel-art", "8 bit": "pixel-art",
    "line art": "line-art", "sketch": "line-art", "pencil sketch": "line-art", "drawing": "line-art",
    "outline": "line-art", "monochrome": "monochrome", "black and white": "monochrome",
    "grayscale": "monochrome", "greyscale": "monochrome", "b&w": "monochrome",
    "vintage": "sepia", "sepia": "sepia", "retro": "sepia", "old photo": "sepia", "antique": "sepia",
    "watercolor": "watercolor", "watercolour": "watercolor", "painting": "watercolor",
    "neon": "neon", "cyberpunk": "neon", "synthwave": "neon", "mosaic": "mosaic", "tiled": "mosaic",
    "stained glass": "mosaic", "cartoon": "cartoon", "comic": "cartoon", "pop art": "pop-art",
    "oil painting": "oil-paint", "impressionist": "oil-paint", "blueprint": "blueprint",
    # painters users name for a look the engine has: their closest global style
    "van gogh": "oil-paint", "van gogh painting": "oil-paint", "starry night": "oil-paint", "monet": "oil-paint", "renoir": "oil-paint",
    "impressionism": "oil-paint", "warhol": "pop-art", "lichtenstein": "pop-art",
}
STYLE_NAMES = sorted(set(STYLES.values()))

FONT_WORDS: dict[str, tuple[str, str]] = {
    "bold": ("weight", "bold"), "heavy": ("weight", "bold"), "thick": ("weight", "bold"),
    "italic": ("style", "italic"), "slanted": ("style", "italic"), "cursive": ("style", "italic"),
    "serif": ("family", "serif"), "typewriter": ("family", "mono"), "monospace": ("family", "mono"),
    "monospaced": ("family", "mono"), "sans-serif": ("family", "sans"), "sans serif": ("family", "sans"),
    "uppercase": ("case", "upper"), "capital letters": ("case", "upper"), "lowercase": ("case", "lower"),
}

#: words that carry no content; never reported as ignored
STOPWORDS = frozenset(
    """a an the of and with photo photograph picture image illustration render rendering scene view
    shot showing shows show depicting that this there is are be it its their his her some one
    has have having which who where while very also just both each all of to at as into onto from
    for by together plus then ,  . ; : ! ? - in on my your our own says say said reading reads read
    written writes write text words word letters lettering label labelled labeled caption titled
    background setting style styled art colored coloured color colour version look looking like
    made out side""".split()
)


def build_class_index() -> dict[str, str]:
    """Every surface form (singular, plural, synonym) -> canonical class name."""
    index: dict[str, str] = {}

    def add(form: str, cls: str) -> None:
        index.setdefault(form, cls)
        for plural in plural_forms(form):
            index.setdefault(plural, cls)

    entries: list[tuple[str, tuple[str, ...]]] = [(c, s) for c, (s, _) in COCO_CLASSES.items()]
    entries += [(c, s) for c, s in SHAPES.items()]
    entries += [(c, s) for c, (s, _) in EXTRA_CLASSES.items()]
    for cls, syns in entries:
        add(cls, cls)
    for cls, syns in entries:
        for syn in syns:
            add(syn, cls)
    index["mice"] = "mouse"
    index["computer mice"] = "mouse"
    index["people"] = "person"
    index["persons"] = "person"
    index["men"] = "person"
    index["women"] = "person"
    index["children"] = "person"
    index["knives"] = "knife"
    return index


def plural_forms(word: str) -> list[str]:
    """English plural forms of a (possibly multi-word) noun; the last word inflects."""
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last.endswith(("s", "x", "z", "ch", "sh")):
        forms = [last + "es"]
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        forms = [last[:-1] + "ies"]
    elif last.endswith("f"):
        forms = [last[:-1] + "ves", last + "s"]
    elif last.endswith("fe"):
        forms = [last[:-2] + "ves", last + "s"]
    else:
        forms = [last + "s"]
    if last in ("sheep", "fish", "skis", "scissors", "broccoli", "people"):
        forms = [last]
    if last.endswith("o"):
        forms.append(last + "es")
    forms.append(last + "s")  # naive plurals as benchmark templates write them ("knifes", "sheeps")
    return [prefix + f for f in dict.fromkeys(forms)]


def glyph_for(cls: str) -> str | None:
    """The emoji sequence drawn for a class, or None if it is drawn as a vector icon/shape."""
    if cls in COCO_CLASSES:
        return COCO_CLASSES[cls][1]
    if cls in EXTRA_CLASSES:
        return EXTRA_CLASSES[cls][1]
    return None


def all_glyphs() -> dict[str, str]:
    """asset name -> emoji sequence for every glyph the engine ships."""
    out = {cls.replace(" ", "_"): g for cls in list(COCO_CLASSES) + list(EXTRA_CLASSES) if (g := glyph_for(cls))}
    out.update({f"scenery_{k}": v for k, v in SCENERY_GLYPHS.items()})
    return out
