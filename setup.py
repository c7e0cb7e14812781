from setuptools import find_packages, setup

setup(
    name="neural_networks",
    version="0.1.0",
    description="Fully connected and convolutional neural networks in plain numpy",
    packages=find_packages(include=["neural_networks", "neural_networks.*"]),
    # The Iris splits load_iris reads (written by datasets/make_iris.py).
    package_data={"neural_networks.datasets": ["iris_splits/*.npy"]},
    python_requires=">=3.10",
    install_requires=["numpy", "matplotlib", "scikit-learn", "pandas", "tqdm"],
    extras_require={
        "dev": [
            "torch==2.13.0",
            "hypothesis",
            "nbclient",
            "nbformat",
            "ipykernel",
            "threadpoolctl",
            "ruff",
        ],
    },
)
