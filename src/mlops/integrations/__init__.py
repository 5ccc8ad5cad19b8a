"""One-line tracking for training frameworks. Each module imports its framework only when it
is imported itself, so ``import mlops.integrations`` costs nothing:

- :mod:`mlops.integrations.lightning`: ``Trainer(logger=MlopsLogger())``
- :mod:`mlops.integrations.keras`: ``model.fit(..., callbacks=[MlopsCallback()])``
- :mod:`mlops.integrations.transformers`: ``Trainer(..., callbacks=[MlopsCallback()])``
- :mod:`mlops.integrations.xgboost`: ``xgb.train(..., callbacks=[MlopsCallback()])``
- :mod:`mlops.integrations.lightgbm`: ``lgb.train(..., callbacks=[mlops_callback()])``
- :mod:`mlops.integrations.optuna`: ``study.optimize(objective, callbacks=[MlopsCallback()])``
- :mod:`mlops.integrations.sklearn`: ``log_estimator(it, estimator)``, ``log_search(search)``

Every integration logs to the iteration it is given (``iteration=it``), which it leaves open
for its owner, or starts one in the active project and experiment (or those it is given) and
ends it: ``finished``, or ``failed`` with the error when training raises. On a non-zero
``RANK`` of a distributed job it records nothing, like :func:`mlops.tracking.start_iteration`.
"""
