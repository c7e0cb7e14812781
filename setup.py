"""The course's build file. The project's metadata (name, dependencies, package
data, extras) is in pyproject.toml; this stays so tools that look for setup.py
still find the project."""

from setuptools import setup

setup()
