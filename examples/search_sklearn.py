"""Track a scikit-learn hyperparameter search, then the model it picked, with mlops.

A ``GridSearchCV`` tunes an SVM (``C`` x ``gamma``, 3-fold, scored by accuracy and macro F1) on
the 8x8 handwritten digits bundled with scikit-learn (nothing is downloaded). Two calls track
it all::

    log_search(search)            # one iteration per candidate, the best tagged sklearn.best=true
    log_estimator(it, model)      # get_params() as parameters, the model as model/model.pkl

Everything goes to the project ``digits-search``, experiment ``svc-grid`` (made on the first run,
reused afterwards). It takes a few seconds. Run it and look at the results with::

    MLOPS_HOME=./.demo-home python examples/search_sklearn.py
    MLOPS_HOME=./.demo-home mlops iterations list
    MLOPS_HOME=./.demo-home mlops app
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlops import tracking
from mlops.integrations.sklearn import log_estimator, log_search

PROJECT = "digits-search"
EXPERIMENT = "svc-grid"
GRID = {"svc__C": [0.1, 1.0, 10.0], "svc__gamma": ["scale", 0.001]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    started = time.perf_counter()

    # exist_ok: a second run adds its iterations to the same project and experiment
    project = tracking.create_project(PROJECT, "SVMs on the 8x8 digits", exist_ok=True)
    experiment = tracking.create_experiment(
        EXPERIMENT, "GridSearchCV over C x gamma", project_id=project["id"], exist_ok=True
    )

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    search = GridSearchCV(
        make_pipeline(StandardScaler(), SVC()),
        GRID,
        scoring={"accuracy": "accuracy", "f1_macro": "f1_macro"},
        refit="accuracy",
        cv=3,
    )
    search.fit(x_train, y_train)
    candidates = log_search(search, experiment_id=experiment["id"], name="svc")
    best = candidates[search.best_index_]
    print(f"{len(candidates)} candidates logged; best: {best['name']} {search.best_params_}")
    print(
        f"  mean_test_accuracy {best['metrics']['mean_test_accuracy']:.4f} (iteration {best['id']})"
    )

    # The chosen model, scored once on the held-out test set, as an iteration of its own.
    with tracking.start_iteration("svc final", experiment_id=experiment["id"]) as it:
        model = search.best_estimator_
        log_estimator(it, model)
        it.log_metric("test_accuracy", accuracy_score(y_test, model.predict(x_test)))
    print(f"final model: test_accuracy {it['metrics']['test_accuracy']:.4f} (iteration {it.id})")
    print(f"\n{len(candidates) + 1} iterations in {time.perf_counter() - started:.1f} s. See them:")
    print("  mlops iterations list        or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
