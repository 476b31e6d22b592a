"""Docstring text shared by several methods, written once.

A method's docstring names a piece as ``{name}`` on a line of its own;
:func:`fill_doc` puts the text there, indented as that line is (the
approach of SciPy's ``doccer`` and MNE's ``fill_doc``).
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import re
import textwrap

DOCS = {
    "new_rows": """\
X : {array-like, sparse matrix} of shape (n_samples, n_features)
    New rows.
adjacency : sparse matrix of shape (n_samples, n_fitted_samples), \
        default=None
    Only with a precomputed graph: the edges from the new rows to the
    fitted samples. Not needed for the fitted X itself.""",
    "fit_X": """\
X : {array-like, sparse matrix} of shape (n_samples, n_features)
    Training data.
y : None
    Ignored.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>\w+)\}[ \t]*$", re.MULTILINE)


def fill_doc(function):
    """Replace each ``{name}`` line of ``function``'s docstring by ``DOCS[name]``.

    Examples
    --------
    >>> from sklearn_diffres._docs import fill_doc
    >>> @fill_doc
    ... def f(X, y=None):
    ...     '''Do nothing.
    ...
    ...     Parameters
    ...     ----------
    ...     {fit_X}
    ...     '''
    >>> print(f.__doc__.splitlines()[4])
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
    """

    def piece(match):
        return textwrap.indent(DOCS[match["name"]], match["indent"])

    function.__doc__ = _PLACEHOLDER.sub(piece, function.__doc__)
    return function
