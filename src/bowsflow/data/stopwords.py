"""Built-in English stop-word list (no downloads).

The list is lowercase, as in the BOWS paper's setup: with ``lowercase: false`` the comparison is
case-sensitive, so "The" at the start of a sentence is *not* a stop word and can enter the vocabulary.
It holds the usual function words of English (articles, pronouns, auxiliaries, prepositions,
conjunctions) and the fragments a letters-only tokenizer makes of contractions ("don't" -> "don", "t").
"""

from __future__ import annotations

ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against ain all am an and any are aren as at
    be because been before being below between both but by
    can couldn d did didn do does doesn doing don down during
    each few for from further
    had hadn has hasn have haven having he her here hers herself him himself his how
    i if in into is isn it its itself just ll m ma me mightn more most mustn my myself
    needn no nor not now o of off on once only or other our ours ourselves out over own
    re s same shan she should shouldn so some such
    t than that the their theirs them themselves then there these they this those through to too
    under until up ve very
    was wasn we were weren what when where which while who whom why will with won wouldn
    y you your yours yourself yourselves
    """.split()
)


def stopword_set(option: str | list[str]) -> frozenset[str]:
    """The stop words named by the config option ``bows.stopwords``.

    ``"english"`` gives :data:`ENGLISH_STOPWORDS`, ``"none"`` the empty set, a list of words itself.
    """
    if isinstance(option, str):
        if option == "english":
            return ENGLISH_STOPWORDS
        if option == "none":
            return frozenset()
        raise ValueError(f"bows.stopwords: expected 'english', 'none' or a list of words, got {option!r}")
    return frozenset(option)
