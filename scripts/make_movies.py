"""Generate the bundled recommendation set `movies`: synthetic MovieLens-100k-like ratings, titles and genres."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

# The 18 MovieLens genres, with how many of ML-100k's 1,682 films carry each one.
GENRES = {
    "Action": 251,
    "Adventure": 135,
    "Animation": 42,
    "Children's": 122,
    "Comedy": 505,
    "Crime": 109,
    "Documentary": 50,
    "Drama": 725,
    "Fantasy": 22,
    "Film-Noir": 24,
    "Horror": 92,
    "Musical": 56,
    "Mystery": 61,
    "Romance": 247,
    "Sci-Fi": 101,
    "Thriller": 251,
    "War": 71,
    "Western": 27,
}
GENRE_NAMES = list(GENRES)
# Genres that tend to come together: (a, b, how much more likely b is once a is drawn, and vice versa).
GENRE_PAIRS = (
    ("Animation", "Children's", 12.0),
    ("Children's", "Musical", 3.0),
    ("Action", "Adventure", 4.0),
    ("Action", "Thriller", 3.0),
    ("Action", "Sci-Fi", 3.0),
    ("Adventure", "Fantasy", 4.0),
    ("Crime", "Thriller", 4.0),
    ("Crime", "Film-Noir", 6.0),
    ("Mystery", "Thriller", 4.0),
    ("Horror", "Thriller", 3.0),
    ("Comedy", "Romance", 3.0),
    ("Drama", "Romance", 2.0),
    ("Drama", "War", 3.0),
)
GENRE_COUNT_PROBS = (0.50, 0.35, 0.15)  # an item has 1, 2 or 3 genres

LATENT_DIM = 16
ITEM_NOISE = 0.7  # item-specific part of an item's taste vector, relative to its genres' part
USER_NOISE = 0.6  # same for users, relative to their favourite genres' part
TASTE_DRIFT = 0.5  # how far a user's taste moves between their first and last rating

POPULARITY_EXPONENT = 2.0  # item exposure ~ (rank + offset) ** -exponent (Zipf-like long tail)
POPULARITY_OFFSET = 80  # flattens the very top, so even the biggest hit is not seen by everyone
POPULARITY_JITTER = 0.7  # log-normal spread around the power law
WATCH_AFFINITY = 1.6  # weight of (standardised) user-item affinity when choosing what to watch
GENRE_STICKINESS = 2.0  # bonus for sharing genres with the item watched just before

MIN_RATINGS_PER_USER = 20
MAX_RATINGS_FRACTION = 0.42  # nobody rates more than this share of the catalogue
ACTIVITY_SIGMA = 1.0  # log-normal spread of ratings per user above the minimum

GLOBAL_MEAN = 3.6
USER_BIAS_STD = 0.22
ITEM_BIAS_STD = 0.25
ITEM_BIAS_POPULARITY_CORR = 0.5  # popular films tend to be better rated
RATING_AFFINITY = 1.05  # weight of the (standardised) affinity in the rating
RATING_NOISE = 0.80
STAR_CUTS = (1.5, 2.5, 3.5, 4.7)  # raw score -> 1..5 stars; a full 5 takes a little more than rounding
NOISE_SKEW = -3.0  # skew-normal shape: a longer tail of low ratings, more 4s than 3s (as in ML-100k)

# 1997-09-20 to 1998-04-22, the span of MovieLens-100k.
START = int(datetime(1997, 9, 20, tzinfo=UTC).timestamp())
END = int(datetime(1998, 4, 23, tzinfo=UTC).timestamp())

# Word pools for made-up titles, filled into TITLE_PATTERNS ({noun2} is a second noun).
TITLE_WORDS = {
    "adj": (
        "Silent Last Lost Golden Broken Hidden Crimson Endless Secret Dark Wild Distant Burning Frozen Quiet "
        "Hollow Electric Midnight Forgotten Little Great Restless Savage Gentle Bitter Sweet Crooked Shining "
        "Fallen Final Dangerous Innocent Lonely Perfect Second Strange Stolen Sudden Wicked Iron Velvet Blue "
        "Red Black White Green Empty Long High Deep"
    ),
    "noun": (
        "Harbor River Night Summer Winter Road City Garden Kingdom Promise Shadow Storm Island Mirror Letter "
        "Stranger Heart Frontier Horizon Station Valley Empire Witness Dream Circle Game Journey Bridge Fire "
        "Moon Sun Ocean Tower House Window Voice Angel Hunter Soldier Detective Dancer Engine Planet Machine "
        "Castle Forest Desert Train Crossing Affair Legacy Secret Truth Lie Season Sky Wolf Rose Thief Ghost "
        "Dragon Crown Song"
    ),
    "place": (
        "Paris Brooklyn Texas Venice Chicago Tokyo Berlin Montana Havana Cairo Dublin Vienna Manhattan Alaska "
        "Casablanca Nevada Bombay London Rio Moscow Hollywood Memphis Boston Sicily Shanghai"
    ),
    "name": (
        "Harry Annie Jack Rosie Max Lola Charlie Frankie Nick Molly Eddie Grace Sam Lucy Billy Vera Joe Nora "
        "Tom Ruby Dolores Walter Emma Henry"
    ),
}
TITLE_PATTERNS = (
    "The {adj} {noun}",
    "The {noun}",
    "{adj} {noun}",
    "{noun} of the {adj} {noun2}",
    "The {noun} of {place}",
    "A {noun} in {place}",
    "{name}'s {noun}",
    "{place} {noun}",
    "The {adj} {noun}s",
    "{noun} and {noun2}",
    "Return of the {noun}",
    "{name} and the {adj} {noun}",
    "Beyond the {noun}",
    "{adj} {place}",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=943)
    parser.add_argument("--items", type=int, default=1682)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data" / "movies")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.ratings > args.users * int(args.items * MAX_RATINGS_FRACTION):
        raise SystemExit("too many ratings for that many users and items")
    began = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    item_genres = draw_item_genres(rng, args.items)
    genre_vectors = rng.normal(size=(len(GENRES), LATENT_DIM))
    item_vectors = make_item_vectors(rng, item_genres, genre_vectors)
    user_start, user_end = make_user_vectors(rng, args.users, genre_vectors)
    popularity = draw_popularity(rng, args.items)
    user_bias = rng.normal(0.0, USER_BIAS_STD, args.users)
    item_bias = draw_item_bias(rng, popularity)
    counts = draw_ratings_per_user(rng, args.users, args.ratings, int(args.items * MAX_RATINGS_FRACTION))

    first_taste, last_taste = affinities(user_start, user_end, item_vectors)
    users, items, affinity = watch_sequences(rng, counts, first_taste, last_taste, np.log(popularity), item_genres)
    users, items, affinity = cover_every_item(users, items, affinity, (first_taste + last_taste) / 2)
    noise = RATING_NOISE * skewed_noise(rng, len(users), NOISE_SKEW)
    taste = RATING_AFFINITY * (affinity - affinity.mean())  # centred: the rating mean stays near GLOBAL_MEAN
    raw = GLOBAL_MEAN + user_bias[users] + item_bias[items] + taste + noise
    rating = 1 + np.searchsorted(STAR_CUTS, raw).astype(np.int64)
    timestamps = draw_timestamps(rng, counts)

    ratings = pd.DataFrame({"user": users + 1, "item": items + 1, "rating": rating, "timestamp": timestamps})
    titles = make_titles(rng, item_genres)
    catalogue = pd.DataFrame(
        {
            "item": np.arange(1, args.items + 1),
            "title": titles,
            "genres": ["|".join(GENRE_NAMES[g] for g in sorted(gs)) for gs in item_genres],
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(args.out / "ratings.csv", index=False)
    catalogue.to_csv(args.out / "items.csv", index=False)
    print_summary(ratings, args.items, time.perf_counter() - began, args.out)


def draw_item_genres(rng: np.random.Generator, n_items: int) -> list[list[int]]:
    """1-3 genres per item, drawn by ML-100k frequency, with related genres likelier together."""
    base = np.array(list(GENRES.values()), dtype=float)
    boost = np.ones((len(GENRES), len(GENRES)))
    for a, b, factor in GENRE_PAIRS:
        i, j = GENRE_NAMES.index(a), GENRE_NAMES.index(b)
        boost[i, j] = boost[j, i] = factor
    result = []
    for k in rng.choice(len(GENRE_COUNT_PROBS), size=n_items, p=GENRE_COUNT_PROBS) + 1:
        weights = base.copy()
        chosen: list[int] = []
        for _ in range(k):
            weights[chosen] = 0.0
            g = int(rng.choice(len(GENRES), p=weights / weights.sum()))
            chosen.append(g)
            weights *= boost[g]
        result.append(chosen)
    return result


def make_item_vectors(rng: np.random.Generator, item_genres: list[list[int]], genre_vectors: np.ndarray) -> np.ndarray:
    genre_part = np.stack([genre_vectors[gs].mean(axis=0) for gs in item_genres])
    return genre_part + ITEM_NOISE * rng.normal(size=genre_part.shape)


def make_user_vectors(
    rng: np.random.Generator, n_users: int, genre_vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Taste at a user's first and last rating: a mix of 2-4 favourite genres plus noise, then a drift."""
    base = np.array(list(GENRES.values()), dtype=float) ** 0.5
    start = np.empty((n_users, LATENT_DIM))
    for u in range(n_users):
        favourites = rng.choice(len(GENRES), size=rng.integers(2, 5), replace=False, p=base / base.sum())
        mix = rng.dirichlet(np.ones(len(favourites)))
        start[u] = mix @ genre_vectors[favourites]
    start += USER_NOISE * rng.normal(size=start.shape)
    end = start + TASTE_DRIFT * rng.normal(size=start.shape)
    return start, end


def draw_popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """Exposure weight per item: a Zipf-like power law over a random ranking, with log-normal jitter."""
    rank = rng.permutation(n_items) + 1
    power_law = (rank + POPULARITY_OFFSET).astype(float) ** -POPULARITY_EXPONENT
    return power_law * rng.lognormal(0.0, POPULARITY_JITTER, n_items)


def draw_item_bias(rng: np.random.Generator, popularity: np.ndarray) -> np.ndarray:
    log_pop = np.log(popularity)
    z = (log_pop - log_pop.mean()) / log_pop.std()
    rho = ITEM_BIAS_POPULARITY_CORR
    return ITEM_BIAS_STD * (rho * z + np.sqrt(1 - rho**2) * rng.normal(size=len(popularity)))


def draw_ratings_per_user(rng: np.random.Generator, n_users: int, total: int, cap: int) -> np.ndarray:
    """Heavy-tailed (log-normal) ratings per user, at least the minimum, summing exactly to the total."""
    extra = rng.lognormal(0.0, ACTIVITY_SIGMA, n_users)
    extra -= extra.min()  # the lightest user rates exactly the minimum
    minimum = min(MIN_RATINGS_PER_USER, total // n_users)
    counts = np.full(n_users, minimum)
    for _ in range(100):  # scale the extras to the total, capping the heaviest users
        spare = total - counts.sum()
        if spare == 0:
            break
        room = cap - counts
        add = np.minimum(np.floor(extra / extra[room > 0].sum() * spare).astype(np.int64), room)
        add[room <= 0] = 0
        if add.sum() == 0:
            order = np.argsort(-extra * (room > 0))[:spare]
            add[order] = 1
        counts += add
    return counts


def affinities(user_start: np.ndarray, user_end: np.ndarray, item_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """User x item affinity (dot product) at each user's first and last rating, in units of its spread."""
    first = user_start @ item_vectors.T
    scale = first.std()
    return first / scale, user_end @ item_vectors.T / scale


def watch_sequences(
    rng: np.random.Generator,
    counts: np.ndarray,
    first_taste: np.ndarray,
    last_taste: np.ndarray,
    log_popularity: np.ndarray,
    item_genres: list[list[int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's watch history in time order, drawn one film at a time without repeats.

    A film's chance is popularity * exp(WATCH_AFFINITY * affinity) * exp(GENRE_STICKINESS * genre overlap with
    the film just watched), where the affinity moves from the user's start taste to their end taste.
    """
    n_items = len(log_popularity)
    multi_hot = np.zeros((len(item_genres), len(GENRES)))
    for i, gs in enumerate(item_genres):
        multi_hot[i, gs] = 1.0
    multi_hot /= np.linalg.norm(multi_hot, axis=1, keepdims=True)
    genre_overlap = GENRE_STICKINESS * (multi_hot @ multi_hot.T)
    users, items, affinity = [], [], []
    for u, n in enumerate(counts):
        first, last = first_taste[u], last_taste[u]
        drift = np.linspace(0.0, 1.0, n)
        gumbel = rng.gumbel(size=(n, n_items))  # argmax of logits + Gumbel noise = a draw from softmax(logits)
        seen = np.zeros(n_items, dtype=bool)
        chosen = np.empty(n, dtype=np.int64)
        taste = np.empty(n)
        previous = -1
        for t in range(n):
            now = first + drift[t] * (last - first)
            logits = log_popularity + WATCH_AFFINITY * now + gumbel[t]
            if previous >= 0:
                logits += genre_overlap[previous]
            logits[seen] = -np.inf
            previous = int(np.argmax(logits))
            seen[previous] = True
            chosen[t], taste[t] = previous, now[previous]
        users.append(np.full(n, u))
        items.append(chosen)
        affinity.append(taste)
    return np.concatenate(users), np.concatenate(items), np.concatenate(affinity)


def cover_every_item(
    users: np.ndarray, items: np.ndarray, affinity: np.ndarray, mean_taste: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every never-watched film one rating (as in ML-100k), swapped into a heavy user's history."""
    users, items, affinity = users.copy(), items.copy(), affinity.copy()
    watched = np.bincount(items, minlength=mean_taste.shape[1])
    heavy = np.argsort(-np.bincount(users))[: max(1, len(mean_taste) // 10)]
    for item in np.flatnonzero(watched == 0):
        for u in heavy[np.argsort(-mean_taste[heavy, item])]:
            rows = np.flatnonzero(users == u)
            if np.any(items[rows] == item):
                continue
            row = rows[np.argmax(watched[items[rows]])]
            if watched[items[row]] < 2:
                continue
            watched[items[row]] -= 1
            items[row], watched[item] = item, 1
            affinity[row] = mean_taste[u, item]
            break
    return users, items, affinity


def skewed_noise(rng: np.random.Generator, n: int, shape: float) -> np.ndarray:
    """Skew-normal draws scaled to mean 0 and standard deviation 1."""
    delta = shape / np.sqrt(1 + shape**2)
    z = delta * np.abs(rng.normal(size=n)) + np.sqrt(1 - delta**2) * rng.normal(size=n)
    mean = delta * np.sqrt(2 / np.pi)
    return (z - mean) / np.sqrt(1 - mean**2)


def draw_timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Per user: an active period inside the span, rated in sessions (minutes apart) that are days apart."""
    span = END - START
    result = []
    for n in counts:
        new_session = rng.random(n) < min(1.0, 2.0 / np.sqrt(n))
        days_between_sessions = rng.lognormal(np.log(2.0), 1.0)
        gaps = np.where(new_session, rng.exponential(days_between_sessions * 86_400, n), rng.exponential(150, n)) + 1
        gaps[0] = 0
        offsets = np.cumsum(gaps)
        if offsets[-1] > span:  # squeeze very long histories into the span
            offsets = offsets * (span / offsets[-1])
        begin = START + rng.random() * (span - offsets[-1])
        stamps = np.floor(begin + offsets).astype(np.int64)
        stamps = np.maximum.accumulate(stamps - np.arange(n)) + np.arange(n)  # strictly increasing
        result.append(np.minimum(stamps, END - n + np.arange(n)))
    return np.concatenate(result)


def make_titles(rng: np.random.Generator, item_genres: list[list[int]]) -> list[str]:
    """A unique made-up title per film, with a release year (older for film noir and westerns)."""
    noir, western = GENRE_NAMES.index("Film-Noir"), GENRE_NAMES.index("Western")
    pools = {key: text.split() for key, text in TITLE_WORDS.items()}
    used: set[str] = set()
    titles = []
    for gs in item_genres:
        while True:
            words = {key: str(rng.choice(pool)) for key, pool in pools.items()}
            words["noun2"] = str(rng.choice(pools["noun"]))
            if words["noun"] == words["noun2"]:
                continue
            title = str(rng.choice(TITLE_PATTERNS)).format(**words)
            if title not in used:
                break
        used.add(title)
        if noir in gs:
            year = int(rng.integers(1941, 1959))
        elif western in gs and rng.random() < 0.6:
            year = int(rng.integers(1939, 1972))
        else:
            year = int(max(1926, 1998 - np.floor(rng.exponential(6.0))))
        titles.append(f"{title} ({year})")
    return titles


def print_summary(ratings: pd.DataFrame, n_items: int, seconds: float, out: Path) -> None:
    n_users, n_rated = ratings.user.nunique(), ratings.item.nunique()
    per_user = ratings.groupby("user").size()
    per_item = ratings.groupby("item").size()
    histogram = ratings.rating.value_counts(normalize=True).sort_index()
    print(f"wrote {out}: {len(ratings):,} ratings, {n_users} users, {n_rated}/{n_items} items rated")
    print(f"density {len(ratings) / (n_users * n_items):.2%}, mean rating {ratings.rating.mean():.3f}")
    print("ratings: " + "  ".join(f"{r}: {p:.1%}" for r, p in histogram.items()))
    print(f"per user: min {per_user.min()} median {per_user.median():.0f} max {per_user.max()}")
    print(f"per item: min {per_item.min()} median {per_item.median():.0f} max {per_item.max()}")
    print(f"took {seconds:.1f} s")


if __name__ == "__main__":
    main()
