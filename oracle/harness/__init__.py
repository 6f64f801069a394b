"""The harness: what runs targets against the golden and reports on them.

`crosscheck` (one target on a suite), `isolation` and `worker` (a target in its own process, `wire` the
format both sides share), `run` (every adapter, each in a worker), `report` (results and their rendering),
`cli` (the `convt-oracle` command) and `pytest_plugin`. It sits on the core (convt_oracle's arithmetic,
parameters, golden, tolerance, comparison and errors), the case model (convt_oracle.cases) and the adapters
(convt_oracle.adapters); none of those imports it.
"""
