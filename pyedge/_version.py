# The one place the version is written: pyproject.toml reads it (scikit-build-core's regex
# provider), and `import pyedge` reads it without importlib.metadata (~25 ms).
__version__ = "0.1.0"
