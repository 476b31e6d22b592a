from setuptools import find_packages, setup

with open("README.rst", encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="sklearn-diffres",
    version="0.1.0.dev0",
    description=(
        "Diffusion Residual Networks (Diff-ResNet) for semi-supervised "
        "learning with scikit-learn"
    ),
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    packages=find_packages(include=["sklearn_diffres", "sklearn_diffres.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6",
        "torch>=2.1",
        "skorch>=1.0",
        "pynndescent>=0.5.10",
    ],
    extras_require={
        "tests": ["pytest>=7", "pytest-xdist>=3"],
        "examples": ["matplotlib>=3.7"],
        "docs": [
            "sphinx>=7",
            "pydata-sphinx-theme>=0.15",
            "numpydoc>=1.6",
            "sphinx-gallery>=0.15",
            "matplotlib>=3.7",
        ],
    },
    classifiers=[
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
