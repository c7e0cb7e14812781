"""Write the Iris splits shipped in the package (neural_networks/datasets/iris_splits/)
from scikit-learn's bundled copy.

105 training, 15 validation and 30 test examples, stratified by class, with a
fixed seed. Features are kept raw (cm); labels are one-hot float rows.

    python datasets/make_iris.py
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

SEED = 0
# Package data: load_iris reads it from there, in a checkout and an installed copy alike.
OUT_DIR = Path(__file__).resolve().parent.parent / "neural_networks" / "datasets" / "iris_splits"


def main():
    iris = load_iris()
    X, y = iris.data.astype(np.float64), iris.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=30, stratify=y, random_state=SEED
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=15, stratify=y_rest, random_state=SEED
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split, data, labels in (
        ("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test)
    ):
        one_hot = np.eye(3)[labels]
        np.save(OUT_DIR / f"iris_{split}_data.npy", data)
        np.save(OUT_DIR / f"iris_{split}_labels.npy", one_hot)
        print(f"{split}: {data.shape[0]} examples, per class {one_hot.sum(axis=0).astype(int)}")


if __name__ == "__main__":
    main()
