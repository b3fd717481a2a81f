"""The pytest plugin: loaded by its entry point, options under --probity-, no heavy import at load time."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_options_are_namespaced(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*Probity compliance harness*", "*--probity-target*", "*--probity-defects*"])


def test_loading_the_plugin_imports_nothing_of_probity(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_lazy():
            assert "_probity_pytestplugin" in sys.modules
            assert not [m for m in sys.modules if m.startswith("probity.runtime")]
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_stack_fixture_reports_a_bad_target_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", target="name: x\ndatabase: {}\n")
    pytester.makepyfile("def test_needs_stack(probity_stack):\n    pass\n")
    result = pytester.runpytest_subprocess("--probity-target", "target.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*target.yaml:2: database.name: Field required*"])
