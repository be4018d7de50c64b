"""Generate the synthetic SQuAD-format dataset shipped for the offline demo.

Run `python -m paczero.data.make_demo_squad` to rewrite demo_squad/train.json
and demo_squad/dev.json. The output is deterministic: the same seed gives the
same bytes. The files use the official SQuAD v1.1 JSON layout. Each paragraph
is a short invented biography, town or event description, with three questions
whose answers are spans of the paragraph (`answer_start` is the character
offset). Train questions have one gold answer. Dev questions also list
variants with or without a leading article or qualifier, because the official
dev set lists several answers per question.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FIRST_NAMES = [
    "Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kiri", "Lars",
    "Mira", "Nils", "Olga", "Pavel", "Rosa", "Soren", "Tilda", "Umar", "Vera", "Wendel", "Yara", "Zeno",
]
LAST_NAMES = [
    "Albrecht", "Baranov", "Castell", "Dufour", "Eriksen", "Falk", "Garnier", "Holm", "Ibsen", "Jansky",
    "Kovac", "Lindqvist", "Moreau", "Novak", "Ostrow", "Petrov", "Quist", "Rainer", "Sauer", "Tamm",
]
CITIES = [
    "Vienna", "Lisbon", "Krakow", "Ghent", "Turin", "Bergen", "Leipzig", "Porto", "Uppsala", "Riga",
    "Lyon", "Graz", "Tartu", "Bruges", "Seville", "Zagreb", "Aarhus", "Basel", "Trieste", "Utrecht",
]
FIELDS = ["chemistry", "botany", "astronomy", "mathematics", "geology", "music theory", "medicine", "linguistics"]
INSTITUTIONS = ["Royal Academy", "Polytechnic Institute", "Free University", "Imperial College", "Naval School"]
JOBS = ["teacher", "surveyor", "librarian", "engineer", "pharmacist", "journalist", "architect", "translator"]
PRIZES = ["Golden Quill", "Northern Star Medal", "Meridian Prize", "Silver Lantern Award", "Helix Medal"]
TOPICS = ["river sediments", "comet orbits", "bird song", "crystal growth", "old maps", "alpine plants"]
TOWN_PREFIXES = ["Elm", "Stone", "Mill", "Ash", "Wolf", "Fox", "Bright", "Cold", "Iron", "Oak"]
TOWN_SUFFIXES = ["ford", "haven", "brook", "stead", "wick", "field", "moor", "dale"]
RIVERS = ["Aldra", "Mesna", "Tavel", "Oris", "Kelva", "Dunro", "Sabin", "Veyla"]
COUNTRIES = ["Norvania", "Estmark", "Valdoria", "Brenland", "Ostravia", "Kesland"]
PRODUCTS = ["woollen blankets", "blue pottery", "smoked cheese", "glass beads", "copper bells", "apple cider"]
EVENTS = ["Harbour Festival", "Lantern Fair", "Chess Congress", "Spring Regatta", "Clockmakers' Exhibition"]
MONTHS = ["March", "April", "May", "June", "July", "August", "September", "October"]
ORGANISERS = ["the city council", "the local guild", "a group of students", "the royal society", "the harbour board"]
WINNERS = ["a baker", "a young sailor", "a retired judge", "two sisters", "a school choir"]


def with_article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def biography(rng: random.Random) -> tuple[str, str, list[tuple[str, list[str]]]]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    name = f"{first} {last}"
    city, work_city = rng.sample(CITIES, 2)
    born = rng.randint(1820, 1950)
    prized = born + rng.randint(25, 60)
    field, institution, job = rng.choice(FIELDS), rng.choice(INSTITUTIONS), rng.choice(JOBS)
    prize, topic = rng.choice(PRIZES), rng.choice(TOPICS)
    pronoun, possessive = rng.choice([("He", "his"), ("She", "her")])
    context = (
        f"{name} was born in {city} in {born}. {pronoun} studied {field} at the {institution} "
        f"and later worked as {with_article(job)} in {work_city}. In {prized}, {pronoun.lower()} received the {prize} "
        f"for {possessive} work on {topic}."
    )
    questions = [
        (f"Where was {name} born?", [city]),
        (f"In what year was {name} born?", [str(born), f"in {born}"]),
        (f"What did {name} study?", [field]),
        (f"In which city did {last} work as {with_article(job)}?", [work_city, f"in {work_city}"]),
        (f"What did {last} work as in {work_city}?", [job, with_article(job)]),
        (f"Which award did {last} receive in {prized}?", [f"the {prize}", prize]),
        (f"For work on what did {last} receive the {prize}?", [topic, f"{possessive} work on {topic}"]),
    ]
    return name.replace(" ", "_"), context, questions


def town(rng: random.Random) -> tuple[str, str, list[tuple[str, list[str]]]]:
    name = rng.choice(TOWN_PREFIXES) + rng.choice(TOWN_SUFFIXES)
    river, country, product = rng.choice(RIVERS), rng.choice(COUNTRIES), rng.choice(PRODUCTS)
    founded = rng.randint(1100, 1800)
    founder = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    job, home = rng.choice(JOBS), rng.choice(CITIES)
    population = f"{rng.randint(2, 90)},{rng.randint(0, 9)}00"
    context = (
        f"{name} is a town on the {river} River in {country}. It was founded in {founded} by {founder}, "
        f"{with_article(job)} from {home}. The town is known for its {product}, and about {population} people live there today."
    )
    questions = [
        (f"On which river is {name}?", [f"{river} River", f"the {river} River", river]),
        (f"In which country is {name}?", [country]),
        (f"When was {name} founded?", [str(founded), f"in {founded}"]),
        (f"Who founded {name}?", [founder, f"{founder}, {with_article(job)} from {home}"]),
        (f"Where did the founder of {name} come from?", [home]),
        (f"What is {name} known for?", [product, f"its {product}"]),
        (f"How many people live in {name} today?", [f"about {population}", population]),
    ]
    return f"{name}_({country})", context, questions


def event(rng: random.Random) -> tuple[str, str, list[tuple[str, list[str]]]]:
    city, name, month = rng.choice(CITIES), rng.choice(EVENTS), rng.choice(MONTHS)
    year, organiser, winner = rng.randint(1850, 2020), rng.choice(ORGANISERS), rng.choice(WINNERS)
    visitors = f"{rng.randint(2, 40)},000"
    context = (
        f"The {year} {name} took place in {city} in {month}. It was organised by {organiser} "
        f"and drew some {visitors} visitors. The main prize went to {winner}."
    )
    questions = [
        (f"Where did the {year} {name} take place?", [city, f"in {city}"]),
        (f"In which month was the {year} {name} held?", [month]),
        (f"Who organised the {year} {name}?", [organiser]),
        (f"How many visitors came to the {year} {name}?", [f"some {visitors}", visitors]),
        (f"Who won the main prize at the {year} {name}?", [winner]),
    ]
    return f"{name}_{year}", context, questions


PARAGRAPH_KINDS = (biography, town, event)


def make_article(rng: random.Random, split: str, number: int, with_variants: bool) -> dict:
    title, context, questions = rng.choice(PARAGRAPH_KINDS)(rng)
    qas = []
    for index, (question, golds) in enumerate(rng.sample(questions, 3)):
        answers = []
        for text in golds if with_variants else golds[:1]:
            start = context.find(text)
            # Keep only answers whose text occurs once, so answer_start is unambiguous.
            if start >= 0 and context.count(text) == 1:
                answers.append({"answer_start": start, "text": text})
        if not answers or answers[0]["text"] != golds[0]:
            continue
        qas.append({"answers": answers, "question": question, "id": f"demo-{split}-{number:04d}-{index}"})
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def build_split(rng: random.Random, split: str, num_articles: int, with_variants: bool) -> str:
    """JSON text of one split in the official SQuAD v1.1 layout."""
    articles = [make_article(rng, split, number, with_variants) for number in range(num_articles)]
    return json.dumps({"data": articles, "version": "1.1"}, indent=1) + "\n"


def build_all(seed: int = 20261205) -> dict[str, str]:
    """File name -> JSON text of every demo split."""
    rng = random.Random(seed)
    return {
        "train.json": build_split(rng, "train", 140, with_variants=False),
        "dev.json": build_split(rng, "dev", 70, with_variants=True),
    }


def main() -> None:
    folder = Path(__file__).parent / "demo_squad"
    folder.mkdir(exist_ok=True)
    for name, text in build_all().items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
