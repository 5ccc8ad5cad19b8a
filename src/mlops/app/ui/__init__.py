"""The App's web pages: server-rendered HTML (Jinja2) with a JSON twin at ``PATH.json``.

=================================  ===========================================================
``/``                              redirects to ``/projects``
``/projects[.json]``               projects with counts (``?q=`` search, ``?archived=1``)
``/projects/{id}[.json]``          experiments (best ``?metric=&goal=max|min``), datasets
``/experiments/{id}[.json]``       iterations table (``?metrics= &params= &filter=
                                   &order_by= &page=``)
``/iterations/{id}[.json]``        one iteration: parameters, metrics, charts, system, model
``/compare[.json]?ids=a,b``        2 to 50 iterations side by side
``/datasets[.json]``               dataset versions
``/datasets/{name}[.json]``        a dataset's versions and the iterations that used them
``/models[.json]``                 registered models, latest version, aliases
``/models/{name}[.json]``          a model's versions with their iterations and aliases
``/trash[.json]``                  deleted experiments and iterations: restore or purge
``/login``, ``/logout``            the session cookie of an App started with ``--auth``
=================================  ===========================================================

Pages read through the store's read models only (no SQL here); the browser draws the charts
from the REST API's downsampled series. No inline script or style (the App's CSP forbids both).
"""

from __future__ import annotations

from mlops.app.ui import admin, login, models, pages, runs, trash, views

__all__ = ["ROUTERS"]

#: The pages' routers, in the order their routes are matched.
ROUTERS = (
    login.router,
    pages.router,
    runs.router,
    models.router,
    admin.router,
    trash.router,
    views.router,
)
