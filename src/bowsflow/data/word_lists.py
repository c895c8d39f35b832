"""Word lists the analyses use by default: cyclic groups (the BOWS paper's always-included words) and
a few topic lists, for probing and colouring. Configs may replace every one of them."""

MONTHS = "January February March April May June July August September October November December".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
PLANETS = "Mercury Venus Earth Mars Jupiter Saturn Uranus Neptune".split()

TOPICS = {
    "music": "album song band music singer songs guitar".split(),
    "sport": "football team league season championship player cup".split(),
    "war": "war army battle military forces troops".split(),
    "science": "physics chemistry theory scientific mathematics molecules".split(),
    "geography": "river mountain island lake sea coast".split(),
}

# Output words whose interference and interaction matrices are reported by default.
TARGET_WORDS = ("January", "March", "music", "football", "river", "war")
