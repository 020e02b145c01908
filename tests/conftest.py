"""The suite's plugins, each one concern (tests/plugins); helpers are imported from
``tests.helpers`` and ``tests.support``, never from a conftest."""

pytest_plugins = [
    "pytester",
    "tests.plugins.hypothesis_profiles",
    "tests.plugins.apps",
    "tests.plugins.servers",
    "tests.plugins.markers",
    "tests.plugins.node_ids",
    "tests.plugins.redis_server",
    "tests.plugins.stores",
]
