"""Text corpora for the word-vector labs, as lists of tokenised sentences with the questions that
test the vectors: analogies (a : b :: c : d) and word pairs with a similarity rating.

- "toy": generated here from templates with a known structure (countries and their capitals and
  languages, male and female words that play the same role), so the analogies are learnable from
  a few thousand sentences, and the ratings come from that structure.
- "wiki": the Wikipedia sample that ships inside the gensim package (head500.noblanks.cor, 500
  articles, lower-cased, stop words removed and Porter-stemmed: "philosophy" is "philosophi";
  CC BY-SA), with Mikolov's analogy questions and WordSim-353 from the same folder. Read from
  the installed package at run time, never copied here.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from playground.data.base import DataUnavailable
from playground.i18n import N_

CORPORA = ("toy", "wiki", "upload")
GENSIM_PIN = "gensim==4.4.0"


@dataclass(frozen=True)
class Corpus:
    name: str
    sentences: tuple[tuple[str, ...], ...]
    analogies: tuple[tuple[str, str, str, str], ...] = ()   # a : b :: c : d, d is the answer
    sections: tuple[str, ...] = ()                          # the kind of each analogy
    similarity: tuple[tuple[str, str, float], ...] = ()     # (word, word, rating)
    probes: tuple[str, ...] = ()                            # words worth looking at
    groups: dict = field(default_factory=dict)              # word -> its kind (the map's colours)
    shown_sections: tuple[str, ...] = ()                    # analogy kinds drawn on the map
    note: str = ""                                          # where it comes from


def load_corpus(name: str, max_tokens: int) -> Corpus:
    """The corpus cut to its first `max_tokens` tokens (the toy one is generated that long)."""
    if name == "toy":
        return toy_corpus(max_tokens)
    if name == "wiki":
        return wiki_corpus(max_tokens)
    if name == "upload":
        raise DataUnavailable("The upload corpus is a text of your own: upload a .txt file "
                              "first (Data, 'Your own text').", fix={"corpus": "toy"})
    raise ValueError(f"unknown corpus {name!r}; corpora: {', '.join(CORPORA)}")


# ---------------------------------------------------------------------------------------------
# The toy corpus: sentences from templates, with the structure that analogies need

# country, capital, language / nationality, continent
NATIONS = (
    ("france", "paris", "french", "europe"), ("germany", "berlin", "german", "europe"),
    ("italy", "rome", "italian", "europe"), ("spain", "madrid", "spanish", "europe"),
    ("portugal", "lisbon", "portuguese", "europe"), ("greece", "athens", "greek", "europe"),
    ("russia", "moscow", "russian", "europe"), ("poland", "warsaw", "polish", "europe"),
    ("sweden", "stockholm", "swedish", "europe"), ("norway", "oslo", "norwegian", "europe"),
    ("japan", "tokyo", "japanese", "asia"), ("china", "beijing", "chinese", "asia"),
    ("korea", "seoul", "korean", "asia"), ("thailand", "bangkok", "thai", "asia"),
    ("vietnam", "hanoi", "vietnamese", "asia"), ("egypt", "cairo", "egyptian", "africa"),
    ("kenya", "nairobi", "kenyan", "africa"), ("nigeria", "abuja", "nigerian", "africa"),
    ("morocco", "rabat", "moroccan", "africa"), ("canada", "ottawa", "canadian", "america"),
    ("cuba", "havana", "cuban", "america"), ("peru", "lima", "peruvian", "america"),
    ("chile", "santiago", "chilean", "america"), ("australia", "canberra", "australian", "oceania"),
)
# male word, female word, and the words of the role they share
COUPLES = (
    ("king", "queen", ("throne", "kingdom")), ("prince", "princess", ("castle", "royal")),
    ("man", "woman", ("street", "office")), ("boy", "girl", ("school", "playground")),
    ("father", "mother", ("children", "home")), ("son", "daughter", ("parents", "family")),
    ("brother", "sister", ("twin", "family")), ("uncle", "aunt", ("cousins", "visit")),
    ("husband", "wife", ("wedding", "marriage")), ("actor", "actress", ("film", "stage")),
    ("waiter", "waitress", ("restaurant", "menu")), ("nephew", "niece", ("cousins", "birthday")),
    ("grandfather", "grandmother", ("grandchildren", "garden")), ("monk", "nun", ("prayer",
                                                                                  "abbey")),
    ("emperor", "empress", ("empire", "palace")), ("lord", "lady", ("manor", "estate")),
)
ANIMALS = ("dog", "cat", "horse", "cow", "sheep", "goat", "rabbit", "fox", "wolf", "bear")
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown", "grey")
MOODS = ("tired", "happy", "angry", "proud", "calm", "sad")

_NATION = (
    "{city} is the capital of {country}", "the capital of {country} is {city}",
    "{country} is a country in {continent}", "{city} is a large city in {country}",
    "the {lang} government meets in {city}", "most people in {country} speak {lang}",
    "{lang} is spoken in {city}", "the {lang} team played in {city}",
    "the mayor of {city} opened a museum", "the streets of {city} were busy",
    "the economy of {country} is growing", "the border of {country} is long",
    "a {lang} writer was born in {city}", "the president of {country} visited {other}",
    "{country} and {other} signed a treaty", "we took the train from {city} to {other_city}",
)
_COUPLE = (
    "the {who} said that {he} was {mood}", "{he} is the {who} of the {role}",
    "the {who} and {his} {role}", "the {who} lived near the {role}",
    "the old {who} smiled at {his} friend", "everyone knew the {who} from the {role}",
)
_FILLER = (
    "the {animal} ran across the field", "a {colour} {animal} slept in the barn",
    "the farmer fed the {animal}", "the {colour} car stopped at the light",
    "we painted the door {colour}", "the {animal} ate the grass",
)


@lru_cache(maxsize=8)
def toy_corpus(max_tokens: int = 60_000) -> Corpus:
    """Sentences about nations (a third), couples (a third) and farm animals and colours,
    generated until `max_tokens`, always the same for the same length (a fixed seed)."""
    rng = np.random.default_rng(12345)
    sentences, n = [], 0
    while n < max_tokens:
        kind = rng.integers(3)
        if kind == 0:
            i, j = rng.choice(len(NATIONS), 2, replace=False)
            country, city, lang, continent = NATIONS[i]
            other, other_city = NATIONS[j][0], NATIONS[j][1]
            text = _NATION[rng.integers(len(_NATION))].format(
                country=country, city=city, lang=lang, continent=continent, other=other,
                other_city=other_city)
        elif kind == 1:
            male, female, roles = COUPLES[rng.integers(len(COUPLES))]
            is_male = rng.integers(2) == 0
            text = _COUPLE[rng.integers(len(_COUPLE))].format(
                who=male if is_male else female, he="he" if is_male else "she",
                his="his" if is_male else "her", role=roles[rng.integers(2)],
                mood=MOODS[rng.integers(len(MOODS))])
        else:
            text = _FILLER[rng.integers(len(_FILLER))].format(
                animal=ANIMALS[rng.integers(len(ANIMALS))],
                colour=COLOURS[rng.integers(len(COLOURS))])
        words = tuple(text.split())
        sentences.append(words)
        n += len(words)
    extra = n - max_tokens                    # cut the last sentence: exactly max_tokens tokens
    if extra:
        sentences[-1] = sentences[-1][:len(sentences[-1]) - extra]
    analogies, sections = [], []
    for section, pairs in (("capital-country", [(c, k) for k, c, _, _ in NATIONS]),
                           ("country-language", [(k, g) for k, _, g, _ in NATIONS]),
                           ("male-female", [(m, f) for m, f, _ in COUPLES])):
        for a, b in pairs:
            for c, d in pairs:
                if a != c:
                    analogies.append((a, b, c, d))
                    sections.append(section)
    groups = {**{k: "country" for k, *_ in NATIONS}, **{c: "capital" for _, c, *_ in NATIONS},
              **{g: "language" for *_, g, _ in NATIONS}, **{m: "male" for m, *_ in COUPLES},
              **{f: "female" for _, f, _ in COUPLES}, **{a: "animal" for a in ANIMALS},
              **{c: "colour" for c in COLOURS}}
    return Corpus("toy", tuple(sentences), tuple(analogies), tuple(sections), _toy_similarity(),
                  probes=("paris", "japan", "french", "king", "mother", "horse"), groups=groups,
                  shown_sections=("capital-country", "male-female"),
                  note=N_("generated from templates (countries, capitals, languages; male and "
                          "female words of the same role; animals and colours)"))


def _toy_similarity() -> tuple[tuple[str, str, float], ...]:
    """Word pairs rated by the generator's structure, the toy stand-in for human ratings:
    3 = two faces of one thing (paris / france, king / queen), 2 = the same kind and place
    (two capitals of one continent, two male words), 1 = the same kind, 0 = unrelated."""
    rng = np.random.default_rng(7)
    kind = {}
    for country, city, lang, continent in NATIONS:
        kind.update({country: ("country", continent, country),
                     city: ("capital", continent, country), lang: ("language", continent, country)})
    for male, female, _ in COUPLES:
        kind.update({male: ("person", "male", male), female: ("person", "female", male)})
    for a in ANIMALS:
        kind[a] = ("animal", "", a)
    words = sorted(kind)
    pairs = {tuple(sorted(p)) for k, c, g, _ in NATIONS for p in ((k, c), (k, g))}
    pairs |= {tuple(sorted((m, f))) for m, f, _ in COUPLES}
    while len(pairs) < 300:
        a, b = rng.choice(len(words), 2, replace=False)
        pairs.add((words[min(a, b)], words[max(a, b)]))

    def rating(a, b):
        (ka, pa, ia), (kb, pb, ib) = kind[a], kind[b]
        if ia == ib:
            return 3.0
        if ka == kb or {ka, kb} <= {"country", "capital", "language"}:
            return 2.0 if pa == pb else 1.0
        return 0.0
    return tuple((a, b, rating(a, b)) for a, b in sorted(pairs))


# ---------------------------------------------------------------------------------------------
# The Wikipedia sample inside the gensim package

def gensim_test_data() -> Path:
    """gensim's test_data folder, found without importing gensim (a second or two)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable(
            "The wiki corpus is the Wikipedia sample that ships inside the gensim package, which "
            f"is not installed here: `pip install {GENSIM_PIN}` (or use the toy corpus, which "
            "needs nothing).", fix={"corpus": "toy"})
    folder = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data"
    if not (folder / "head500.noblanks.cor").is_file():
        raise DataUnavailable(
            f"The installed gensim has no test_data/head500.noblanks.cor: install {GENSIM_PIN}, "
            "whose wheel ships it (or use the toy corpus).", fix={"corpus": "toy"})
    return folder


@lru_cache(maxsize=2)
def wiki_corpus(max_tokens: int = 100_000) -> Corpus:
    """The first `max_tokens` tokens of the 500 articles (one article per line)."""
    folder = gensim_test_data()
    sentences, n = [], 0
    with open(folder / "head500.noblanks.cor", encoding="utf-8") as f:
        for line in f:
            # interned: one string per distinct word, not one per occurrence (~20 MB less)
            words = tuple(sys.intern(w) for w in line.split()[:max_tokens - n])
            if words:
                sentences.append(words)
                n += len(words)
            if n >= max_tokens:
                break
    analogies, sections, section = [], [], ""
    with open(folder / "questions-words.txt", encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                section = line[1:].strip()
            elif len(words := line.lower().split()) == 4:
                analogies.append(tuple(words))
                sections.append(section)
    similarity = []
    with open(folder / "wordsim353.tsv", encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split("\t")
            if not line.startswith("#") and len(parts) == 3:
                similarity.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    return Corpus("wiki", tuple(sentences), tuple(analogies), tuple(sections), tuple(similarity),
                  probes=("king", "war", "music", "church", "water", "german"),
                  shown_sections=("capital-common-countries", "family"),
                  note=N_("the Wikipedia sample inside gensim (500 articles, stemmed, no stop "
                          "words; CC BY-SA)"))


# ---------------------------------------------------------------------------------------------
# A visitor's own text

def text_corpus(text: str, max_tokens: int, name: str = "upload") -> Corpus:
    """Any text as a corpus: lower-cased words (letters, digits, apostrophes inside a word),
    one sentence per . ! ? or line break; no analogy questions or ratings to score it by, so
    its probes are frequent words of four letters or more."""
    sentences, n = [], 0
    for chunk in re.split(r"[.!?\n]+", text.lower()):
        words = tuple(sys.intern(w) for w in re.findall(r"\w+(?:'\w+)*", chunk)[:max_tokens - n])
        if words:
            sentences.append(words)
            n += len(words)
        if n >= max_tokens:
            break
    counts = Counter(w for s in sentences for w in s)
    probes = tuple(w for w, _ in counts.most_common(200) if len(w) >= 4 and not w.isdigit())[:6]
    return Corpus(name, tuple(sentences), probes=probes,
                  note=N_("your uploaded text ({n:,} words; no analogy questions or word "
                          "ratings to score it by: look at the neighbours and the map)"
                          ).format(n=n))
