"""The narrative pages whose examples are promised to run, run."""

import doctest
import os

import pytest

DOC = os.path.join(os.path.dirname(__file__), "..", "doc")


@pytest.mark.parametrize(
    "page", ["faq.rst", "labelspreading.rst", "serving.rst", "gpu.rst"]
)
def test_page_examples_run(page):
    result = doctest.testfile(
        os.path.join(DOC, page),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        verbose=False,
    )
    assert result.attempted > 0, f"{page} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {page} failed"


def test_documented_constants_hold():
    import re

    import sklearn_diffres

    with open(os.path.join(DOC, "api.rst")) as f:
        text = f.read()
    found = re.findall(r"\.\. data:: (\w+)\n   :value: (.+)\n", text)
    # Every public constant is documented, with the value it has.
    constants = {name for name in sklearn_diffres.__all__ if name.isupper()}
    assert {name for name, _ in found} == constants
    for name, value in found:
        assert getattr(sklearn_diffres, name) == eval(value), name
