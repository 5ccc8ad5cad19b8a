"""Train a small Keras model and track it with mlops: one line, ``callbacks=[MlopsCallback()]``.

The data are two noisy interleaved half-moons made with numpy (nothing is downloaded). The
model is a dense network; ``fit`` records its parameters and optimizer, every epoch's
``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy``, every batch's running values
(``batch/...``) and the trained model as the artifact ``model/model.keras``. Everything goes
to the project ``keras-demo``, experiment ``moons`` (made on the first run). Run it with::

    MLOPS_HOME=./.demo-home python examples/train_keras.py
    MLOPS_HOME=./.demo-home mlops iterations list

Keras 3 runs on TensorFlow, JAX or PyTorch: set ``KERAS_BACKEND``, or the first one installed
is used.
"""

from __future__ import annotations

import importlib.util
import os
import sys

if "KERAS_BACKEND" not in os.environ:  # before keras is imported
    found = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
    if found:
        os.environ["KERAS_BACKEND"] = found[0]

import keras
import numpy as np

from mlops import tracking
from mlops.integrations.keras import MlopsCallback


def moons(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two interleaved half-moons with noise, and their labels."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(scale=0.15, size=(n, 2))
    return points.astype("float32"), label.astype("float32")


def main() -> int:
    project = tracking.create_project("keras-demo", "Keras on two half-moons", exist_ok=True)
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("moons", "a dense network", exist_ok=True)
    tracking.set_active_experiment(experiment["id"])

    x, y = moons(600)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    callback = MlopsCallback(name="dense-16x16", log_every_batch=True, log_model=True)
    model.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0, callbacks=[callback])

    it = tracking.get_iteration(callback.iteration.id)
    metrics = it["metrics"]
    print(f"iteration {it['name']} ({it['id']}): {it['status']}")
    print(f"  val_accuracy {metrics['val_accuracy']:.3f}, val_loss {metrics['val_loss']:.3f}")
    print(f"  files: {[a['name'] for a in tracking.list_artifacts(it['id'])]}")
    print("See it with: mlops iterations list    or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
