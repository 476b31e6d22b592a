"""Grid search on a real dask.distributed cluster (joblib's dask backend)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from sklearn_diffres import DiffusionResNetClassifier, SemiSupervisedKFold

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is in the test extras; not installed here"
)


def test_grid_search_on_a_local_cluster_matches_sequential():
    from joblib import parallel_backend

    X, y = make_blobs(n_samples=160, centers=3, cluster_std=1.5, random_state=0)
    y_semi = np.full_like(y, -1)
    keep = np.random.RandomState(0).choice(len(y), 30, replace=False)
    y_semi[keep] = y[keep]
    search = GridSearchCV(
        DiffusionResNetClassifier(
            n_neighbors=8, sigma=4, max_epochs=30, random_state=0
        ),
        {"n_layers": [0, 10], "dropout": [0.0, 0.25]},
        cv=SemiSupervisedKFold(n_splits=3, shuffle=True, random_state=0),
    )
    sequential = search.fit(X, y_semi).cv_results_
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream, parallel_backend("dask"):
            spread = search.fit(X, y_semi).cv_results_
        workers = set(client.scheduler_info()["workers"])
    # The fits ran as tasks on the cluster's two worker processes.
    assert len(workers) == 2
    assert stream.data and {task["worker"] for task in stream.data} <= workers
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(spread[key], sequential[key])
    for i in range(3):
        np.testing.assert_array_equal(
            spread[f"split{i}_test_score"], sequential[f"split{i}_test_score"]
        )
    assert search.best_params_ in sequential["params"]
