"""Track scikit-learn models and hyperparameter searches.

::

    from mlops import tracking
    from mlops.integrations.sklearn import log_estimator, log_search

    with tracking.start_iteration("logreg") as it:
        model = LogisticRegression(C=0.5).fit(X, y)
        log_estimator(it, model)          # get_params() as parameters, model/model.pkl

    search = GridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=5).fit(X, y)
    log_search(search)                    # one iteration per candidate, the best tagged

:func:`log_estimator` logs ``estimator.get_params()`` (nested estimators' parameters too, as
scikit-learn names them: ``clf__C``) and pickles the fitted estimator as the artifact
``model/model.pkl`` (so ``tracking.register_model(name, it.id)`` registers it).

:func:`log_search` turns a fitted ``GridSearchCV``, ``RandomizedSearchCV``,
``HalvingGridSearchCV`` or ``HalvingRandomSearchCV`` into one iteration per candidate (per row
of ``cv_results_``: a halving search has one row per candidate and round, with its ``iter`` and
``n_resources`` as metrics).
"""

from __future__ import annotations

import math
import pickle
import shutil
from collections.abc import Mapping
from typing import Any

from mlops import tracking
from mlops.errors import InvalidInput
from mlops.integrations._common import keep_copy, number, spool_dir
from mlops.tracking import Iteration
from mlops.values import check_name

__all__ = ["log_estimator", "log_search"]

BEST_TAG = "sklearn.best"


def log_estimator(iteration: Iteration, estimator: Any, name: str = "model") -> None:
    """Log a fitted scikit-learn estimator (or pipeline) to ``iteration``.

    Its ``get_params()`` become parameters: numbers, text, booleans and None as they are, a
    nested estimator as its class name (its own parameters follow as ``step__param``), other
    objects as text. The estimator itself is pickled into the artifact ``<name>/model.pkl``
    (default ``model/model.pkl``); load it back with ``pickle.load`` after
    ``tracking.download_artifacts(it.id, "model")``, with the same scikit-learn version. The
    tag ``sklearn.estimator`` names its class.

    Raises ``InvalidInput`` when ``iteration`` is not an iteration, ``estimator`` has no
    ``get_params`` or is not fitted yet (call ``fit`` first), and ``IterationEnded`` when the
    iteration has ended.
    """
    if not isinstance(iteration, Iteration):
        raise InvalidInput(
            f"log_estimator: the first argument is the Iteration that tracking.start_iteration "
            f"returned, got {type(iteration).__name__}"
        )
    iteration._check_open()
    check_name(name, "name")
    _check_fitted(estimator, "log_estimator")
    iteration.log_parameters(estimator_parameters(estimator))
    iteration.set_tag("sklearn.estimator", type(estimator).__name__)
    _keep_model(iteration, estimator, name)


def estimator_parameters(estimator: Any) -> dict[str, Any]:
    """``estimator.get_params()`` as parameter values (see :func:`log_estimator`)."""
    return {str(k): _param(v) for k, v in sorted(estimator.get_params(deep=True).items())}


def log_search(
    search_cv: Any,
    experiment_id: str | None = None,
    project_id: str | None = None,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """Log a fitted hyperparameter search as one iteration per candidate, and return their
    dicts in the order of ``search_cv.cv_results_`` (so ``result[search_cv.best_index_]`` is
    the best one).

    Each iteration, named ``<name> <index>`` (default name: the estimator's class name and
    ``candidate``, e.g. ``SVC candidate 3``), goes to ``experiment_id`` / ``project_id`` (default:
    the active experiment, as :func:`mlops.tracking.start_iteration` does) and records:

    - the candidate's parameters (``cv_results_["params"]``);
    - every number of its row of ``cv_results_`` as a metric: ``mean_test_<scorer>``,
      ``std_test_<scorer>``, ``split<k>_test_<scorer>``, ``rank_test_<scorer>`` for each
      scorer (``score`` when there is one), the same ``_train_`` ones with
      ``return_train_score=True``, ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``,
      ``std_score_time`` (and ``iter``, ``n_resources`` of a halving search);
    - the tags ``sklearn.search`` (the search's class), ``sklearn.estimator``,
      ``sklearn.candidate`` (its index) and ``sklearn.best``: ``"true"`` on the best candidate
      (``best_index_``, by the ``refit`` scorer of a multi-metric search), ``"false"`` on the
      others; a search without ``best_index_`` (multi-metric with ``refit=False``) marks none.

    The best candidate's iteration also gets the refitted ``best_estimator_`` as its
    ``model/model.pkl`` artifact (when the search refit one). Raises ``InvalidInput`` for a
    search that is not fitted yet.
    """
    if isinstance(search_cv, type):
        raise InvalidInput(
            f"log_search takes a fitted search such as GridSearchCV(...).fit(X, y), got the "
            f"class {search_cv.__name__}"
        )
    if not hasattr(search_cv, "get_params") or not hasattr(search_cv, "fit"):
        raise InvalidInput(
            f"log_search takes a scikit-learn search such as GridSearchCV, got "
            f"{type(search_cv).__name__}"
        )
    results = getattr(search_cv, "cv_results_", None)
    if not isinstance(results, Mapping) or "params" not in results:
        raise InvalidInput(
            f"log_search: this {type(search_cv).__name__} is not fitted yet (it has no "
            f"cv_results_): call .fit(X, y) on it first"
        )
    if name is not None:
        check_name(name, "name")
    base = getattr(search_cv, "estimator", None)
    estimator = type(base).__name__ if base is not None else "estimator"
    prefix = name or f"{estimator} candidate"
    best_index = getattr(search_cv, "best_index_", None)
    best = None if number(best_index) is None else int(best_index)  # type: ignore[arg-type]
    refitted = getattr(search_cv, "best_estimator_", None)
    metric_keys = [k for k in results if k != "params" and not k.startswith("param_")]
    logged: list[dict[str, Any]] = []
    for index, params in enumerate(results["params"]):
        with tracking.start_iteration(
            f"{prefix} {index}", project_id, experiment_id, system_metrics=False
        ) as it:
            it.log_parameters({str(k): _param(v) for k, v in params.items()})
            metrics = {}
            for key in metric_keys:
                value = number(_item(results[key], index))
                if value is not None:
                    metrics[key] = value
            it.log_metrics(metrics)
            tags = {
                "sklearn.search": type(search_cv).__name__,
                "sklearn.estimator": estimator,
                "sklearn.candidate": str(index),
            }
            if best is not None:
                tags[BEST_TAG] = "true" if index == best else "false"
            it.set_tags(tags)
            if index == best and refitted is not None:
                _keep_model(it, refitted, "model")
        logged.append(dict(it))
    return logged


# -- helpers --------------------------------------------------------------------------------
def _check_fitted(estimator: Any, caller: str) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if isinstance(estimator, type) or not hasattr(estimator, "get_params"):
        raise InvalidInput(
            f"{caller} takes a scikit-learn estimator (with get_params), got "
            f"{type(estimator).__name__}"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise InvalidInput(
            f"{caller}: this {type(estimator).__name__} is not fitted yet: call .fit(X, y) "
            f"before logging it"
        ) from None
    except TypeError as exc:  # not an estimator check_is_fitted knows
        raise InvalidInput(f"{caller}: {exc}") from None


def _keep_model(iteration: Iteration, estimator: Any, name: str) -> None:
    """Pickle ``estimator`` as the artifact ``<name>/model.pkl`` of ``iteration``."""
    if iteration._store is None:  # a non-zero RANK: nothing is kept
        return
    folder = spool_dir()
    try:
        path = folder / "model.pkl"
        with open(path, "wb") as fh:
            pickle.dump(estimator, fh, protocol=pickle.HIGHEST_PROTOCOL)
        keep_copy(iteration, path, f"{name}/model.pkl")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _item(column: Any, index: int) -> Any:
    try:
        value = column[index]
    except (IndexError, KeyError, TypeError):
        return None
    if getattr(column, "mask", None) is not None and bool(column.mask[index]):
        return None  # a masked entry of a masked array
    return value


def _param(value: Any) -> Any:
    """A parameter value as JSON data: scalars kept, estimators by class name, numpy values
    as Python ones, containers element by element, anything else as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value).__name__
    if isinstance(value, type):
        return value.__name__
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _param(item())
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) >= 1 and getattr(value, "size", 0) <= 100:
        return [_param(v) for v in tolist()]
    if isinstance(value, list | tuple) and len(value) <= 100:
        return [_param(v) for v in value]
    if isinstance(value, Mapping) and len(value) <= 100:
        return {str(k): _param(v) for k, v in value.items()}
    if callable(value) and hasattr(value, "__name__"):
        return str(value.__name__)
    text = repr(value)
    return text if len(text) <= 1000 else text[:997] + "..."
