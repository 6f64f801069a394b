"""The project's own matrix: every case of the chosen suite, in every chosen dtype, on every chosen target.

Suite, dtypes and targets come from the convt-oracle pytest plugin (oracle/harness/pytest_plugin.py). The
project's defaults sit in pyproject.toml's [tool.pytest.ini_options] (convt_targets, convt_dtypes): the
smoke suite in float32 and float16 on tests/support/matrix_targets.py, a correct NumPy target written apart from
the golden. Any of them can be changed on the command line, e.g.

    pytest tests/test_matrix.py --convt-suite default --convt-dtypes bfloat16 --convt-targets torch
"""


def test_matrix(convt_case, convt_target, convt_check):
    convt_check(convt_case, convt_target)
