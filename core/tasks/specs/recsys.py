"""The recommendation task's spec (the task itself: core/tasks/recsys.py)."""

from core.tasks import DatasetSpec, TaskSpec

SPEC = TaskSpec(
    name="recsys",
    title="Recommendation",
    icon=":material/movie:",
    blurb="From ratings to personal top-10 lists, measured the way the field measures.",
    datasets=(
        DatasetSpec(
            "movies",
            "synthetic MovieLens-100k-like ratings: 943 users, 1,682 films with titles and genres",
            "core.tasks.recsys:load_sample",
        ),
    ),
    default_model="ease",  # the best top-10 here, fitted in a second; the others train with live curves
    primary_metric="ndcg@10",
    baselines=("pop",),
    more_data="more interactions per user",
    headline=("ndcg@10", "recall@10", "precision@10", "hit@10", "map@10", "coverage@10", "rmse", "mae"),
    result_tabs=("For a user", "New visitor", "Item map", "Popularity bias", "All models"),
    settings=("protocol",),
    lab_model="bpr",
    example_noun="users",
    order=3,
)
