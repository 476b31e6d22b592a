"""Sphinx configuration of the sklearn-diffres documentation."""

import os
import sys
import warnings

sys.path.insert(0, os.path.abspath(".."))
import sklearn_diffres  # noqa: E402

project = "sklearn-diffres"
author = "The sklearn-diffres developers"
copyright = "2026, The sklearn-diffres developers"
release = sklearn_diffres.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples/README.txt", "**/README.txt"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "sklearn-diffres"
html_theme_options = {"navigation_with_keys": False}

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# No network on the machines that build these docs: no intersphinx inventory.
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}

# torch notes that sparse CSR support is in beta; not ours to fix.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
